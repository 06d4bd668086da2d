"""`ksql.extension.dir`: the *.py files of a directory loaded at engine start, once per version of
each file; `_*.py` helpers importable by the others; code anyone may write refused; and never a
directory named by a statement or a REST request (only the engine's own configuration)."""
from __future__ import annotations

import os
import textwrap

import httpx
import pytest

from pyksqlite.facade.engine import Engine
from pyksqlite.common.errors import KsqlException
from pyksqlite.expressions import python_udf
from pyksqlite.expressions.functions import default_registry
from pyksqlite.shell.server import ServerThread

PROPERTIES = {"ksqlite.log.flush": "none"}

MODULE = '''
from pyksqlite.udf import udf
from _shared import SUFFIX

with open({log!r}, "a") as log:
    log.write("imported\\n")

@udf(params=["STRING"], returns="STRING", per_row=True)
def {name}(text):
    return text + SUFFIX
'''


@pytest.fixture
def ext(tmp_path):
    directory = tmp_path / "ext"
    directory.mkdir(mode=0o755)
    yield directory


def write_module(directory, name, log, suffix="!"):
    (directory / "_shared.py").write_text(f"SUFFIX = {suffix!r}\n")
    (directory / f"{name.lower()}.py").write_text(MODULE.format(log=str(log), name=name.lower()))


def engine_on(tmp_path, ext, name="data"):
    return Engine(tmp_path / name, {**PROPERTIES, "ksql.extension.dir": str(ext)})


def imports(log):
    return log.read_text().count("imported") if log.exists() else 0


def test_a_file_is_imported_once_per_version(tmp_path, ext):
    log = tmp_path / "imports.log"
    write_module(ext, "t_ext_once", log)
    try:
        for name in ("a", "b"):
            engine_on(tmp_path, ext, name).close()
        assert imports(log) == 1
        assert default_registry().exists("T_EXT_ONCE")
        source = ext / "t_ext_once.py"
        source.write_text(source.read_text() + "\n# changed\n")
        os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
        engine_on(tmp_path, ext, "c").close()
        assert imports(log) == 2
        python_udf.unregister_function("T_EXT_ONCE")
        engine_on(tmp_path, ext, "d").close()     # its function was unregistered: imported again
        assert imports(log) == 3 and default_registry().exists("T_EXT_ONCE")
    finally:
        python_udf.unregister_function("T_EXT_ONCE")


def test_helpers_are_importable_and_not_loaded_themselves(tmp_path, ext):
    log = tmp_path / "imports.log"
    write_module(ext, "t_ext_helper", log, suffix="?")
    (ext / "_broken_helper.py").write_text("raise RuntimeError('a helper is not an extension')\n")
    engine = engine_on(tmp_path, ext)
    try:
        engine.execute("CREATE STREAM s (k STRING KEY, v STRING) WITH (kafka_topic='s', partitions=1, "
                       "value_format='JSON');")
        engine.execute("INSERT INTO s (k, v) VALUES ('a', 'hey');")
        assert engine.pull_query("SELECT t_ext_helper(v) AS w FROM s;").rows == [["hey?"]]
    finally:
        engine.close()
        python_udf.unregister_function("T_EXT_HELPER")


def test_a_file_that_fails_to_import_is_named(tmp_path, ext):
    (ext / "broken.py").write_text("def oops(:\n")
    with pytest.raises(KsqlException, match="Could not load UDFs from .*broken.py: SyntaxError"):
        engine_on(tmp_path, ext)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_code_that_anyone_may_write_is_refused(tmp_path, ext):
    (ext / "open.py").write_text("X = 1\n")
    os.chmod(ext / "open.py", 0o666)
    with pytest.raises(KsqlException, match="writable by any user"):
        python_udf.load_extension_dir(ext)
    os.chmod(ext / "open.py", 0o644)
    os.chmod(ext, 0o777)
    with pytest.raises(KsqlException, match="writable by any user"):
        python_udf.load_extension_dir(ext)


def test_a_rest_request_cannot_load_an_extension_dir(tmp_path, ext):
    log = tmp_path / "imports.log"
    write_module(ext, "t_ext_rest", log)
    engine = Engine(tmp_path / "data", PROPERTIES)
    try:
        with ServerThread(engine, port=0) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            for body in ({"ksql": "SHOW FUNCTIONS;", "streamsProperties": {"ksql.extension.dir": str(ext)}},
                         {"ksql": f"SET 'ksql.extension.dir'='{ext}'; SHOW FUNCTIONS;"}):
                reply = http.post("/ksql", json=body)
                names = {f["name"] for entity in reply.json() if isinstance(entity, dict)
                         for f in entity.get("functions", [])} if reply.status_code == 200 else set()
                assert "T_EXT_REST" not in names
            assert http.post("/ksql", json={"ksql": "DESCRIBE FUNCTION t_ext_rest;"}).status_code == 400
        assert imports(log) == 0 and not default_registry().exists("T_EXT_REST")
    finally:
        engine.close()
