"""A parser for the `.proto` schema text that schema registries hold, into a FileDescriptorProto.

The protobuf package has no .proto parser (protoc does that), so this covers what registry
schemas use: syntax, package, imports, messages (nested), enums, fields with `repeated`/
`optional`, `map<K, V>`, `oneof`, options (skipped, except Confluent's decimal precision/scale
in `(confluent.field_meta)`), `reserved`. Confluent's and Google's helper types that ksqlDB
uses (confluent.type.Decimal, google.type.Date/TimeOfDay) are built in here too.
"""
from __future__ import annotations

import re
from typing import Optional

from google.protobuf import descriptor_pb2

_TOKEN = re.compile(r'\s*(?:(//[^\n]*)|(/\*.*?\*/)|("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|'
                    r'([A-Za-z_.][A-Za-z0-9_.]*)|(-?[0-9][0-9A-Za-z_.+-]*)|(\S))', re.S)
_SCALARS = {name: getattr(descriptor_pb2.FieldDescriptorProto, "TYPE_" + name.upper())
            for name in ("double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool",
                         "string", "bytes", "uint32", "sfixed32", "sfixed64", "sint32", "sint64")}
F = descriptor_pb2.FieldDescriptorProto

BUILTIN_FILES = {
    "confluent/type/decimal.proto": 'syntax = "proto3"; package confluent.type; '
                                    'message Decimal { bytes value = 1; uint32 precision = 2; int32 scale = 3; }',
    "google/type/date.proto": 'syntax = "proto3"; package google.type; '
                              'message Date { int32 year = 1; int32 month = 2; int32 day = 3; }',
    "google/type/timeofday.proto": 'syntax = "proto3"; package google.type; message TimeOfDay '
                                   '{ int32 hours = 1; int32 minutes = 2; int32 seconds = 3; int32 nanos = 4; }',
    "confluent/meta.proto": 'syntax = "proto3"; package confluent;',
}


def _tokens(text: str) -> list[str]:
    out = []
    for match in _TOKEN.finditer(text):
        if match.group(1) or match.group(2):
            continue
        token = match.group(3) or match.group(4) or match.group(5) or match.group(6)
        if token:
            out.append(token)
    return out


class _Parser:
    def __init__(self, text: str, name: str):
        self.tokens = _tokens(text)
        self.i = 0
        self.file = descriptor_pb2.FileDescriptorProto(name=name, syntax="proto3")
        self.decimal_params: dict[str, tuple[int, int]] = {}   # "Msg.field" -> (precision, scale)

    def peek(self) -> Optional[str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> str:
        if self.i >= len(self.tokens):
            raise ValueError("the schema ends too soon")
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, token: str) -> None:
        got = self.next()
        if got != token:
            raise ValueError(f"expected {token!r}, got {got!r}")

    def skip_statement(self) -> None:
        depth = 0
        while True:
            token = self.next()
            if token in ("{", "["):
                depth += 1
            elif token in ("}", "]"):
                depth -= 1
            elif token == ";" and depth == 0:
                return

    def parse(self) -> descriptor_pb2.FileDescriptorProto:
        while self.peek() is not None:
            token = self.next()
            if token == "syntax":
                self.expect("=")
                self.file.syntax = self.next().strip("\"'")
                self.expect(";")
            elif token == "package":
                self.file.package = self.next()
                self.expect(";")
            elif token == "import":
                path = self.next()
                if path in ("public", "weak"):
                    path = self.next()
                self.file.dependency.append(path.strip("\"'"))
                self.expect(";")
            elif token == "message":
                self.message(self.file.message_type.add(), "")
            elif token == "enum":
                self.enum(self.file.enum_type.add())
            elif token == ";":
                continue
            else:
                self.skip_statement()
        return self.file

    def enum(self, enum) -> None:
        enum.name = self.next()
        self.expect("{")
        while self.peek() != "}":
            token = self.next()
            if token in ("option", "reserved"):
                self.skip_statement()
                continue
            if token == ";":
                continue
            self.expect("=")
            enum.value.add(name=token, number=int(self.next(), 0))
            if self.peek() == "[":
                self.skip_options()
            self.expect(";")
        self.expect("}")

    def skip_options(self) -> str:
        start = self.i
        depth = 0
        while True:
            token = self.next()
            if token == "[":
                depth += 1
            elif token == "]":
                depth -= 1
                if depth == 0:
                    return " ".join(self.tokens[start:self.i])

    def message(self, message, scope: str) -> None:
        message.name = self.next()
        package = f"{self.file.package}." if self.file.package else ""
        path = f"{scope}.{message.name}" if scope else package + message.name
        self.expect("{")
        while self.peek() != "}":
            token = self.next()
            if token == "message":
                self.message(message.nested_type.add(), path)
            elif token == "enum":
                self.enum(message.enum_type.add())
            elif token in ("option", "reserved", "extensions", "extend"):
                if token == "extend":
                    self.next()
                    self.skip_block()
                else:
                    self.skip_statement()
            elif token == ";":
                continue
            elif token == "oneof":
                index = len(message.oneof_decl)
                message.oneof_decl.add(name=self.next())
                self.expect("{")
                while self.peek() != "}":
                    inner = self.next()
                    if inner == "option":
                        self.skip_statement()
                        continue
                    self.field(message, path, inner, None, oneof=index)
                self.expect("}")
            elif token == "map":
                self.map_field(message)
            else:
                label = None
                if token in ("repeated", "optional", "required"):
                    label, token = token, self.next()
                self.field(message, path, token, label)
        self.expect("}")

    def skip_block(self) -> None:
        self.expect("{")
        depth = 1
        while depth:
            token = self.next()
            depth += {"{": 1, "}": -1}.get(token, 0)

    def field(self, message, path: str, type_name: str, label: Optional[str], oneof: Optional[int] = None) -> None:
        name = self.next()
        self.expect("=")
        number = int(self.next(), 0)
        field = message.field.add(name=name, number=number, json_name=name)
        field.label = F.LABEL_REPEATED if label == "repeated" else F.LABEL_OPTIONAL
        if type_name in _SCALARS:
            field.type = _SCALARS[type_name]
        else:
            field.type_name = type_name      # resolved (message or enum) after parsing
        if oneof is not None:
            field.oneof_index = oneof
        if label == "optional" and self.file.syntax == "proto3":
            field.proto3_optional = True
            field.oneof_index = len(message.oneof_decl)
            message.oneof_decl.add(name=f"_{name}")
        if self.peek() == "[":
            options = self.skip_options()
            if "precision" in options or "scale" in options:
                precision = re.search(r'value : "(\d+)" , key : "precision"|key : "precision" , value : "(\d+)"', options)
                scale = re.search(r'value : "(\d+)" , key : "scale"|key : "scale" , value : "(\d+)"', options)
                self.decimal_params[f"{path}.{name}"] = (
                    int(next(g for g in precision.groups() if g)) if precision else 64,
                    int(next(g for g in scale.groups() if g)) if scale else 0)
        self.expect(";")

    def map_field(self, message) -> None:
        self.expect("<")
        key_type = self.next()
        self.expect(",")
        value_type = self.next()
        self.expect(">")
        name = self.next()
        self.expect("=")
        number = int(self.next(), 0)
        if self.peek() == "[":
            self.skip_options()
        self.expect(";")
        entry_name = "".join(part.capitalize() for part in name.split("_")) + "Entry"
        entry = message.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        for field_name, field_number, type_name in (("key", 1, key_type), ("value", 2, value_type)):
            f = entry.field.add(name=field_name, number=field_number, label=F.LABEL_OPTIONAL, json_name=field_name)
            if type_name in _SCALARS:
                f.type = _SCALARS[type_name]
            else:
                f.type_name = type_name
        message.field.add(name=name, number=number, label=F.LABEL_REPEATED, type_name=entry_name, json_name=name)


def parse_proto(text: str, name: str = "schema.proto") -> tuple[descriptor_pb2.FileDescriptorProto, dict]:
    parser = _Parser(text, name)
    return parser.parse(), parser.decimal_params


def resolve_type_names(file: descriptor_pb2.FileDescriptorProto, known: dict[str, int]) -> None:
    """Make every field's type_name fully qualified (`.pkg.Msg`) and set message/enum type,
    with protobuf's scoping rules (innermost scope first). `known`: full name -> TYPE_*."""
    package = file.package

    def declare(prefix: str, messages, enums) -> None:
        for e in enums:
            known[f"{prefix}.{e.name}"] = F.TYPE_ENUM
        for m in messages:
            known[f"{prefix}.{m.name}"] = F.TYPE_MESSAGE
            declare(f"{prefix}.{m.name}", m.nested_type, m.enum_type)

    root = f".{package}" if package else ""
    declare(root, file.message_type, file.enum_type)

    def fix(prefix: str, messages) -> None:
        for m in messages:
            scope = f"{prefix}.{m.name}"
            for field in m.field:
                if field.type_name and not field.type_name.startswith("."):
                    field.type_name = _lookup(field.type_name, scope, known)
                if field.type_name:
                    field.type = known.get(field.type_name, F.TYPE_MESSAGE)
            fix(scope, m.nested_type)

    fix(root, file.message_type)


def _lookup(name: str, scope: str, known: dict[str, int]) -> str:
    parts = scope.split(".")
    while True:
        candidate = ".".join(parts + [name]) if parts != [""] else "." + name
        if not candidate.startswith("."):
            candidate = "." + candidate
        if candidate in known:
            return candidate
        if not parts or parts == [""]:
            break
        parts = parts[:-1]
    return "." + name
