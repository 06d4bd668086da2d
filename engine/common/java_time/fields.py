"""Calendar arithmetic on whole numpy arrays: the fields of epoch milliseconds and back, and the
names java.time prints in the English locale (ksqlDB's servers run in it)."""
from __future__ import annotations

import numpy as np

MS_PER_DAY = 86_400_000
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
QUARTER_NAMES = ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"]
_MONTH_LENGTHS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 (the inverse of `days_from_civil`)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def is_leap(year: np.ndarray) -> np.ndarray:
    return ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)


def month_length(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    return _MONTH_LENGTHS[np.clip(month, 1, 12) - 1] + ((month == 2) & is_leap(year))


class Fields:
    """The calendar fields of local date-times given as epoch milliseconds (int64 arrays)."""

    def __init__(self, local_millis: np.ndarray):
        self.epoch_day = np.floor_divide(local_millis, MS_PER_DAY)
        self.milli_of_day = local_millis - self.epoch_day * MS_PER_DAY
        self.year, self.month, self.day = civil_from_days(self.epoch_day)
        self.hour = self.milli_of_day // 3_600_000
        self.minute = self.milli_of_day // 60_000 % 60
        self.second = self.milli_of_day // 1000 % 60
        self.nano = self.milli_of_day % 1000 * 1_000_000
        self.day_of_week = (self.epoch_day + 3) % 7 + 1             # ISO: Monday 1 .. Sunday 7
        self.day_of_year = self.epoch_day - days_from_civil(self.year, np.ones_like(self.year),
                                                            np.ones_like(self.year)) + 1

    def sunday_based_day(self) -> np.ndarray:
        """The US locale's day of week: Sunday 1 .. Saturday 7 (`e`, `c`)."""
        return self.day_of_week % 7 + 1

    def week_of_month(self) -> np.ndarray:
        """The US locale's week of month (weeks start on Sunday; week 1 has the 1st)."""
        first = (self.day_of_week - (self.day - 1)) % 7    # ISO day of week of the 1st, Sunday 0
        return (self.day - 1 + first) // 7 + 1

    def week_based(self) -> tuple[np.ndarray, np.ndarray]:
        """(week-based year, week of it) in the US locale: weeks start on Sunday and week 1 is
        the one that holds January 1st, so the last days of December may be next year's."""
        sunday_index = self.day_of_week % 7                    # Sunday 0 .. Saturday 6
        jan1 = (sunday_index - (self.day_of_year - 1)) % 7
        week = (self.day_of_year - 1 + jan1) // 7 + 1
        year_length = 365 + is_leap(self.year)
        next_year = self.day_of_year + (6 - sunday_index) > year_length
        return np.where(next_year, self.year + 1, self.year), np.where(next_year, 1, week)
