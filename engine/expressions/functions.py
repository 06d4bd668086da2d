"""The function registry: scalar functions as DuckDB SQL templates with typed signatures,
ksqlDB's overload resolution (exact match first, else the one variant reachable by implicit
casts), and the listings behind SHOW FUNCTIONS and DESCRIBE FUNCTION.

A parameter type is a concrete `SqlType` or a generic pattern: "ANY" or "T" (any type; every "T"
binds one type), "ARRAY<T>", "MAP<T>" (MAP<STRING, T>). A variant's `returns` is a `SqlType` or a
function of the resolved argument types. Its `template` is a format string over the coerced
argument SQL (`{0}`, `{1}`, `{args}` for all of them) or a function of (sql list, type list).
Aggregate and table functions register with `kind` so the compiler can reject them in scalar
positions; their execution lives with the aggregation operators.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from engine.errors import FunctionException, KsqlStatementException
from engine.expressions import coercion
from grammar.ast import SqlType

ParamType = Union[SqlType, str]
ReturnType = Union[SqlType, Callable[[list[Optional[SqlType]]], SqlType]]
Template = Union[str, Callable[[list[str], list[Optional[SqlType]]], str]]


@dataclass(frozen=True)
class FunctionVariant:
    params: tuple[ParamType, ...]
    returns: ReturnType
    template: Template
    variadic: bool = False  # the last parameter repeats zero or more times
    description: str = ""
    param_names: tuple[str, ...] = ()  # for DESCRIBE FUNCTION (default: arg0, arg1...)

    def signature(self) -> str:
        names = [str(p) for p in self.params]
        if self.variadic:
            names[-1] = names[-1] + "..."
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
class ResolvedCall:
    """A variant chosen for concrete argument types, with the types each argument is cast to."""
    variant: FunctionVariant
    param_types: tuple[Optional[SqlType], ...]
    return_type: SqlType

    def render(self, args_sql: list[str], arg_types: list[Optional[SqlType]]) -> str:
        template = self.variant.template
        if callable(template):
            return template(args_sql, arg_types)
        return template.format(*args_sql, args=", ".join(args_sql))


class FunctionRegistry:
    def __init__(self):
        self._functions: dict[str, FunctionInfo] = {}

    def register(self, name: str, params: tuple[ParamType, ...] | list, returns: ReturnType,
                 template: Template, *, variadic: bool = False, category: str = "OTHER",
                 description: str = "", kind: str = "scalar", display_name: str = "",
                 param_names: tuple[str, ...] = ()) -> None:
        """Add one variant of `name` (creating the function on its first variant)."""
        info = self._functions.setdefault(name.upper(), FunctionInfo(
            name.upper(), kind, category, description, display_name or name.lower()))
        info.variants.append(FunctionVariant(tuple(params), returns, template, variadic, description,
                                             tuple(param_names)))

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
        """The variant for these argument types (None is an untyped NULL), or ksqlDB's error.

        ksqlDB's UdfIndex: variants matching without implicit casts are tried first, then those
        matching with them; among several the best wins (fixed arity over variadic, then more
        parameters, then fewer generic ones), and a tie is ambiguous."""
        info = self.get(name)
        shown = ", ".join("null" if t is None else str(t) for t in arg_types)
        for allow_casts in (False, True):
            matches = [(variant, targets) for variant in _distinct(info.variants)
                       if (targets := _match(variant, arg_types, allow_casts)) is not None]
            if matches:
                variant, param_types = _best(matches, info.display_name, shown)
                returns = variant.returns
                return_type = returns(list(param_types)) if callable(returns) else returns
                return ResolvedCall(variant, tuple(param_types), return_type)
        raise KsqlStatementException(
            f"Function '{info.display_name}' does not accept parameters ({shown}).")

    def list_functions(self) -> list[tuple[str, str, str, str]]:
        """(name, kind, category, description) of every function, by name: SHOW FUNCTIONS."""
        return [(f.name, f.kind, f.category, f.description)
                for f in sorted(self._functions.values(), key=lambda f: f.name)]

    def describe(self, name: str) -> FunctionInfo:
        """The function with its variants: DESCRIBE FUNCTION."""
        return self.get(name)


def _expand_params(variant: FunctionVariant, count: int) -> Optional[list[ParamType]]:
    params = list(variant.params)
    if not variant.variadic:
        return params if len(params) == count else None
    fixed = len(params) - 1
    if count < fixed:
        return None
    return params[:fixed] + [params[-1]] * (count - fixed)


def _distinct(variants: list[FunctionVariant]) -> list[FunctionVariant]:
    """One variant per signature: a later registration of the same parameters is ignored."""
    seen, result = set(), []
    for variant in variants:
        signature = (variant.params, variant.variadic)
        if signature not in seen:
            seen.add(signature)
            result.append(variant)
    return result


def _is_generic(param: ParamType) -> bool:
    return isinstance(param, str)


def _rank(variant: FunctionVariant) -> tuple[int, int, int]:
    generics = sum(1 for p in variant.params if _is_generic(p))
    return (0 if variant.variadic else 1, len(variant.params), -generics)


def _best(matches, display_name: str, shown: str):
    ranked = sorted(matches, key=lambda m: _rank(m[0]), reverse=True)
    if len(ranked) > 1 and _rank(ranked[0][0]) == _rank(ranked[1][0]):
        raise KsqlStatementException(f"Function '{display_name}' cannot be resolved due "
                                     f"to ambiguous method parameters ({shown}).")
    return ranked[0]


def _match(variant: FunctionVariant, arg_types: list[Optional[SqlType]], allow_casts: bool):
    """The types to convert each argument to for this variant, or None if it does not match."""
    params = _expand_params(variant, len(arg_types))
    if params is None:
        return None
    bindings: dict[str, SqlType] = {}
    targets = []
    for param, arg in zip(params, arg_types):
        if _is_generic(param):
            if arg is not None and not _reserve(param, arg, bindings):
                return None
            targets.append(arg)
        elif arg is None:
            targets.append(None if _any_decimal(param) else param)
        elif _accepts(param, arg, allow_casts):
            targets.append(_cast_target(param, arg))
        else:
            return None
    return [bindings.get("T", t) if p == "T" else t for p, t in zip(params, targets)]


def _any_decimal(param: SqlType) -> bool:
    return param.base == "DECIMAL" and param.precision is None


def _accepts(param: SqlType, arg: SqlType, allow_casts: bool) -> bool:
    """ksqlDB's ParamTypes.areCompatible: element-wise for ARRAY and MAP, the declared fields for
    STRUCT, else the same base type or (with casts) one that casts implicitly to it."""
    if param.base == arg.base == "ARRAY":
        return _accepts(param.element, arg.element, allow_casts)
    if param.base == arg.base == "MAP":
        return _accepts(param.key, arg.key, allow_casts) and _accepts(param.value, arg.value, allow_casts)
    if param.base == arg.base == "STRUCT":
        given = dict(arg.fields)
        return not given or not param.fields or all(
            name in given and _accepts(t, given[name], allow_casts) for name, t in param.fields)
    if param.base == arg.base:
        return True
    return allow_casts and coercion.base_casts_implicitly(arg.base, param.base)


def _cast_target(param: SqlType, arg: SqlType) -> SqlType:
    """The type an accepted argument converts to: itself for a DECIMAL parameter of any
    precision (an integer becomes the DECIMAL holding it), else the parameter's type."""
    if _any_decimal(param):
        return coercion.to_decimal_type(arg) if arg.base != "DECIMAL" else arg
    if param.base == arg.base and param.base in ("DECIMAL", "STRUCT"):
        return arg
    return param


def _reserve(param: str, arg: SqlType, bindings: dict[str, SqlType]) -> bool:
    """Bind a generic parameter ("T", "ANY", "ARRAY<T>", "MAP<T>") to an argument: the
    structure must match and every "T" must bind the same type (no implicit casts)."""
    if param == "ANY":
        return True
    structure = {"T": None, "ARRAY<T>": "ARRAY", "MAP<T>": "MAP"}[param]
    if structure is not None and arg.base != structure:
        return False
    bound = arg if structure is None else (arg.element if structure == "ARRAY" else arg.value)
    return bindings.setdefault("T", bound) == bound


_DEFAULT: Optional[FunctionRegistry] = None


def default_registry() -> FunctionRegistry:
    """The shared registry with every built-in function."""
    global _DEFAULT
    if _DEFAULT is None:
        from engine.expressions.builtins import register_builtins
        _DEFAULT = FunctionRegistry()
        register_builtins(_DEFAULT)
    return _DEFAULT
