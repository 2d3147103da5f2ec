"""The core maths modules import each other in one direction only (no cycle, also through imports
inside functions, which grimp counts). Imports under ``if TYPE_CHECKING:`` (annotations only) are left
out, as ``exclude_type_checking_imports = true`` does for import-linter."""
import itertools

import pytest

grimp = pytest.importorskip("grimp")

CORE = ["fpsnn.network", "fpsnn.kernels", "fpsnn.simulate", "fpsnn.gradients", "fpsnn.checks", "fpsnn.losses"]


def test_core_modules_form_no_cycle():
    graph = grimp.build_graph("fpsnn", exclude_type_checking_imports=True)
    cycles = [(a, b) for a, b in itertools.combinations(CORE, 2)
              if graph.find_shortest_chain(importer=a, imported=b)
              and graph.find_shortest_chain(importer=b, imported=a)]
    assert not cycles, f"import cycles between core modules: {cycles}"
    # the direction the design asks for: the convenience class on top, the checks below both passes
    assert graph.find_shortest_chain(importer="fpsnn.network", imported="fpsnn.gradients")
    assert not graph.find_shortest_chain(importer="fpsnn.simulate", imported="fpsnn.gradients")
    assert graph.find_shortest_chain(importer="fpsnn.simulate", imported="fpsnn.checks")
