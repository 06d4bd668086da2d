"""The function registry: scalar functions as DuckDB SQL templates with typed signatures,
ksqlDB's overload resolution (exact match first, else the one variant reachable by implicit
casts), and the listings behind SHOW FUNCTIONS and DESCRIBE FUNCTION.

A parameter type is a concrete `SqlType` or a generic one: "ANY" (any type), the built-ins'
patterns "T", "ARRAY<T>", "MAP<T>" (a map's value type), or a `SqlType` holding `TypeVariable`s
(ksqlDB's `T`, `ARRAY<T>`, `MAP<K, V>`, `STRUCT<A T>`): each variable binds one type across the
call. A DECIMAL without precision accepts any DECIMAL. One parameter may be variadic, in any
position (`variadic_at`). A variant's `returns` is a `SqlType` (type variables substituted from
the call's bindings) or a function of the resolved argument types.

Overloads resolve as ksqlDB's UdfIndex: the variants that accept the arguments without implicit
casts, else those that accept them with casts, ranked: non-variadic first, then more declared
parameters, fewer generic parameters, no `ANY...` parameter, the variadic parameter later; a tie
at the top is ambiguous. Its `template` is a format string over the coerced
argument SQL (`{0}`, `{1}`, `{args}` for all of them) or a function of (sql list, type list).
Aggregate and table functions register with `kind` so the compiler can reject them in scalar
positions; their execution lives with the aggregation operators.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from pyksqlite.common.errors import FunctionException, KsqlStatementException
from pyksqlite.expressions.typing_rules import can_widen
from pyksqlite.grammar.ast import SqlType

ParamType = Union[SqlType, str]
ReturnType = Union[SqlType, Callable[[list[Optional[SqlType]]], SqlType]]
Template = Union[str, Callable[[list[str], list[Optional[SqlType]]], str]]


@dataclass(frozen=True)
class FunctionVariant:
    params: tuple[ParamType, ...]
    returns: ReturnType
    template: Template
    variadic: bool = False  # one parameter repeats zero or more times ...
    description: str = ""
    param_names: tuple[str, ...] = ()  # for DESCRIBE FUNCTION (default: arg0, arg1...)
    variadic_at: int = -1   # ... this one (-1: the last)

    @property
    def variadic_index(self) -> Optional[int]:
        """The position of the variadic parameter, or None."""
        if not self.variadic or not self.params:
            return None
        return self.variadic_at % len(self.params)

    def signature(self) -> str:
        names = [str(p) for p in self.params]
        if self.variadic_index is not None:
            names[self.variadic_index] += "..."
        return f"({', '.join(names)})"

    def param_name(self, index: int) -> str:
        return self.param_names[index] if index < len(self.param_names) else f"arg{index}"


@dataclass
class FunctionInfo:
    name: str
    kind: str = "scalar"  # scalar | aggregate | table
    category: str = "OTHER"
    description: str = ""
    display_name: str = ""  # the name ksqlDB's messages use, e.g. 'greatest'
    variants: list[FunctionVariant] = field(default_factory=list)
    # Compiles the whole call itself (lambdas, literal-only arguments): (compiler, FunctionCall).
    special_form: Optional[Callable] = None


@dataclass(frozen=True)
class TypeVariable(SqlType):
    """A generic parameter type (ksqlDB's `T`, `K`, `V`): binds to one concrete type per call."""

    def __str__(self) -> str:
        return self.base


def has_generics(param: ParamType) -> bool:
    """Whether a parameter type binds type variables (ksqlDB's GenericsUtil.hasGenerics)."""
    if isinstance(param, str):
        return param in _STRING_PATTERNS
    if isinstance(param, TypeVariable):
        return True
    if param.base == "ARRAY":
        return has_generics(param.element)
    if param.base == "MAP":
        return has_generics(param.key) or has_generics(param.value)
    if param.base == "STRUCT":
        return any(has_generics(t) for _, t in param.fields or ())
    return False


def substitute(param: ParamType, bindings: dict[str, SqlType]) -> Optional[SqlType]:
    """`param` with its type variables replaced by their bindings (None if one is unbound)."""
    if isinstance(param, TypeVariable):
        return bindings.get(param.base)
    if not isinstance(param, SqlType) or not has_generics(param):
        return param if isinstance(param, SqlType) else None
    if param.base == "ARRAY":
        element = substitute(param.element, bindings)
        return None if element is None else SqlType("ARRAY", element=element)
    if param.base == "MAP":
        key, value = substitute(param.key, bindings), substitute(param.value, bindings)
        return None if key is None or value is None else SqlType("MAP", key=key, value=value)
    fields = tuple((name, substitute(t, bindings)) for name, t in param.fields)
    return None if any(t is None for _, t in fields) else SqlType("STRUCT", fields=fields)


@dataclass(frozen=True)
class ResolvedCall:
    """A variant chosen for concrete argument types, with the types each argument is cast to."""
    variant: FunctionVariant
    param_types: tuple[Optional[SqlType], ...]
    return_type: SqlType

    bindings: dict = field(default_factory=dict, compare=False)   # type variable -> bound type

    def render(self, args_sql: list[str], arg_types: list[Optional[SqlType]]) -> str:
        template = self.variant.template
        if getattr(template, "takes_return_type", False):   # e.g. a Python UDF's DuckDB function
            return template(args_sql, arg_types, self.return_type)
        if callable(template):
            return template(args_sql, arg_types)
        return template.format(*args_sql, args=", ".join(args_sql))


class FunctionRegistry:
    def __init__(self):
        self._functions: dict[str, FunctionInfo] = {}

    def register(self, name: str, params: tuple[ParamType, ...] | list, returns: ReturnType,
                 template: Template, *, variadic: bool = False, category: str = "OTHER",
                 description: str = "", kind: str = "scalar", display_name: str = "",
                 param_names: tuple[str, ...] = (), variadic_at: int = -1) -> None:
        """Add one variant of `name` (creating the function on its first variant)."""
        info = self._functions.setdefault(name.upper(), FunctionInfo(
            name.upper(), kind, category, description, display_name or name.lower()))
        info.variants.append(FunctionVariant(tuple(params), returns, template, variadic, description,
                                             tuple(param_names), variadic_at))

    def set_description(self, name: str, description: str) -> None:
        """The function-level text of SHOW FUNCTIONS / DESCRIBE FUNCTION."""
        self.get(name).description = description

    def unregister(self, name: str) -> None:
        """Forget a function entirely (a Python UDF being replaced or unloaded)."""
        self._functions.pop(name.upper(), None)

    def clear_variants(self, name: str) -> None:
        """Forget `name`'s variants so a later module can register a corrected set."""
        info = self._functions.get(name.upper())
        if info is not None:
            info.variants.clear()

    def register_kind(self, name: str, kind: str, category: str = "AGGREGATE",
                      description: str = "") -> None:
        """Declare an aggregate or table function (its execution lives elsewhere)."""
        self._functions.setdefault(name.upper(), FunctionInfo(name.upper(), kind, category, description))

    def register_special(self, name: str, handler: Callable, *, category: str = "OTHER",
                         description: str = "") -> None:
        """A function compiled by `handler(compiler, call)`, e.g. TRANSFORM with its lambda."""
        self._functions[name.upper()] = FunctionInfo(name.upper(), "scalar", category, description,
                                                     name.lower(), special_form=handler)

    def get(self, name: str) -> FunctionInfo:
        info = self._functions.get(name.upper())
        if info is None:
            raise FunctionException(f"Can't find any functions with the name '{name}'")
        return info

    def kind_of(self, name: str) -> Optional[str]:
        """scalar | aggregate | table, or None for an unknown name."""
        info = self._functions.get(name.upper())
        return info.kind if info else None

    def exists(self, name: str) -> bool:
        return name.upper() in self._functions

    def resolve(self, name: str, arg_types: list[Optional[SqlType]]) -> ResolvedCall:
        """The variant for these argument types (None is an untyped NULL), or ksqlDB's error."""
        info = self.get(name)
        exact, widened = [], []
        for variant in info.variants:
            match = _match(variant, arg_types)
            if match is not None:
                (exact if match.exact else widened).append((variant, match))
        shown = ", ".join("null" if t is None else str(t) for t in arg_types)
        best = _best(exact or widened)
        if best is None:
            raise KsqlStatementException(
                f"Function '{info.display_name}' does not accept parameters ({shown}).")
        if best is _AMBIGUOUS:
            raise KsqlStatementException(f"Function '{info.display_name}' cannot be resolved due "
                                         f"to ambiguous method parameters ({shown}).")
        variant, match = best
        returns = variant.returns
        if callable(returns):
            return_type = returns(list(match.targets))
        elif has_generics(returns):
            return_type = substitute(returns, match.bindings)
            if return_type is None:
                raise KsqlStatementException(
                    f"Could not infer the return type of '{info.display_name}' from the "
                    f"parameters ({shown}).")
        else:
            return_type = returns
        return ResolvedCall(variant, tuple(match.targets), return_type, dict(match.bindings))

    def list_functions(self) -> list[tuple[str, str, str, str]]:
        """(name, kind, category, description) of every function, by name: SHOW FUNCTIONS."""
        return [(f.name, f.kind, f.category, f.description)
                for f in sorted(self._functions.values(), key=lambda f: f.name)]

    def describe(self, name: str) -> FunctionInfo:
        """The function with its variants: DESCRIBE FUNCTION."""
        return self.get(name)


def _expand_params(variant: FunctionVariant, count: int) -> Optional[list[ParamType]]:
    params = list(variant.params)
    at = variant.variadic_index
    if at is None:
        return params if len(params) == count else None
    repeats = count - (len(params) - 1)
    if repeats < 0:
        return None
    return params[:at] + [params[at]] * repeats + params[at + 1:]


@dataclass(frozen=True)
class _Match:
    targets: list            # the type each argument is cast to (None: an untyped NULL stays so)
    exact: bool              # no argument needs an implicit cast
    bindings: dict           # type variable name -> bound type


def _match(variant: FunctionVariant, arg_types: list[Optional[SqlType]]) -> Optional[_Match]:
    params = _expand_params(variant, len(arg_types))
    if params is None:
        return None
    bindings: dict[str, SqlType] = {}
    targets = []
    for param, arg in zip(params, arg_types):
        target = _bind(param, arg, bindings)
        if target is _NO_MATCH:
            return None
        targets.append(target)
    targets = [_substitute(p, bindings, t) for p, t in zip(params, targets)]
    # An untyped NULL fits any parameter without a cast.
    exact = all(arg is None or target == arg for arg, target in zip(arg_types, targets))
    return _Match(targets, exact, bindings)


_AMBIGUOUS = object()


def _rank(variant: FunctionVariant) -> tuple:
    """ksqlDB's UdfIndex order between variants that all accept a call (higher is better)."""
    at = variant.variadic_index
    object_varargs = at is not None and variant.params[at] == "ANY"
    generics = sum(1 for p in variant.params if has_generics(p)) + int(object_varargs)
    return (at is None, len(variant.params), -generics, not object_varargs, -1 if at is None else at)


def _best(candidates: list):
    """The best-ranked candidate; None when there is none, _AMBIGUOUS on a tie at the top."""
    if not candidates:
        return None
    ranked = sorted(candidates, key=lambda c: _rank(c[0]), reverse=True)
    if len(ranked) > 1 and _rank(ranked[0][0]) == _rank(ranked[1][0]):
        return _AMBIGUOUS
    return ranked[0]


_NO_MATCH = object()
_STRING_PATTERNS = ("T", "ARRAY<T>", "MAP<T>")


def _bind(param: ParamType, arg: Optional[SqlType], bindings: dict[str, SqlType]):
    if isinstance(param, SqlType) and has_generics(param):
        return arg if _bind_generic(param, arg, bindings) else _NO_MATCH
    if isinstance(param, SqlType) and param.base == "DECIMAL" and param.precision is None:
        return arg if arg is None or arg.base == "DECIMAL" else _NO_MATCH
    if isinstance(param, SqlType):
        if arg is None or can_widen(arg, param):
            return param
        return _NO_MATCH
    if param == "ANY":
        return arg
    if arg is None:
        return None
    structure = {"T": None, "ARRAY<T>": "ARRAY", "MAP<T>": "MAP"}[param]
    if structure is not None and arg.base != structure:
        return _NO_MATCH
    bound = arg if structure is None else (arg.element if structure == "ARRAY" else arg.value)
    previous = bindings.get("T")
    if previous is not None and previous != bound:
        if bound is not None and can_widen(bound, previous):
            return arg
        return _NO_MATCH
    bindings["T"] = bound
    return arg


def _bind_generic(param: SqlType, arg: Optional[SqlType], bindings: dict[str, SqlType]) -> bool:
    """Whether `arg` fits the generic `param`, binding its type variables (ksqlDB's
    GenericsUtil.reserveGenerics): a variable bound already accepts its type or a narrower one."""
    if arg is None:
        return True
    if isinstance(param, TypeVariable):
        previous = bindings.get(param.base)
        if previous is None:
            bindings[param.base] = arg
            return True
        return previous == arg or can_widen(arg, previous)
    if param.base == "DECIMAL" and param.precision is None:
        return arg.base == "DECIMAL"
    if not has_generics(param):
        return arg == param or can_widen(arg, param)
    if param.base != arg.base:
        return False
    if param.base == "ARRAY":
        return _bind_generic(param.element, arg.element, bindings)
    if param.base == "MAP":
        return _bind_generic(param.key, arg.key, bindings) and _bind_generic(param.value, arg.value, bindings)
    wanted, given = param.fields or (), arg.fields or ()
    return len(wanted) == len(given) and all(
        w_name == g_name and _bind_generic(w_type, g_type, bindings)
        for (w_name, w_type), (g_name, g_type) in zip(wanted, given))


def _substitute(param: ParamType, bindings: dict[str, SqlType], target):
    if isinstance(param, str) and param == "T" and "T" in bindings:
        return bindings["T"]
    if isinstance(param, SqlType) and has_generics(param) and target is not None:
        return substitute(param, bindings) or target
    return target


_DEFAULT: Optional[FunctionRegistry] = None


def default_registry() -> FunctionRegistry:
    """The shared registry with every built-in function."""
    global _DEFAULT
    if _DEFAULT is None:
        from pyksqlite.expressions.builtins import register_builtins
        _DEFAULT = FunctionRegistry()
        register_builtins(_DEFAULT)
    return _DEFAULT
