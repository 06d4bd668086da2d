"""The `Engine` facade, the one door for the shell and the tests, and the results its
methods return."""
