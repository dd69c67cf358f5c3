"""xarray DataArrays in, DataArrays out: dims, coordinates, new named dims, laziness."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad

pytestmark = pytest.mark.slow  # left out of -m "not slow" (the fast core)

xr = pytest.importorskip("xarray")

FORMULA = "x**2*y + sin(x*y)*z"


@pytest.fixture(scope="module")
def f():
    return symgrad.compile(FORMULA)


@pytest.fixture(scope="module")
def coords():
    x = xr.DataArray(np.linspace(-1, 1, 5), dims="x", coords={"x": np.linspace(-1, 1, 5)})
    y = xr.DataArray(np.linspace(0, 2, 4), dims="y", coords={"y": np.linspace(0, 2, 4)},
                     attrs={"units": "m"})
    z = xr.DataArray(np.array([0.5, 1.5, 2.5]), dims="t", coords={"t": [10, 20, 30]})
    return x, y, z


def _numpy(x, y, z):
    return np.meshgrid(x.values, y.values, z.values, indexing="ij")


def test_gradient_and_hessian_dims_and_coords(f, coords):
    x, y, z = coords
    g = f.gradient(x, y, z)
    assert isinstance(g, xr.DataArray) and g.name == "gradient"
    assert g.dims == ("x", "y", "t", "variable")
    assert list(g.coords["variable"].values) == ["x", "y", "z"]
    np.testing.assert_array_equal(g.coords["t"], [10, 20, 30])
    np.testing.assert_array_equal(g.values, f.gradient(*_numpy(x, y, z)))
    np.testing.assert_array_equal(g.sel(variable="y").values,
                                  f.gradient(*_numpy(x, y, z))[..., 1])
    h = f.hessian(x, y, z)
    assert h.dims == ("x", "y", "t", "variable", "variable_2")
    assert list(h.coords["variable_2"].values) == ["x", "y", "z"]
    np.testing.assert_array_equal(h.values, f.hessian(*_numpy(x, y, z)))
    v = f(x, y, z)
    assert v.dims == ("x", "y", "t") and v.name == "value"
    lap = f.laplacian(x, y, z)
    assert lap.dims == ("x", "y", "t")
    d3 = f.derivative(x, y, z, order=3)
    assert d3.dims[-3:] == ("variable", "variable_2", "variable_3")
    hv = f.hvp(x, y, z, direction=np.array([1.0, 0.0, 2.0]))
    assert hv.dims[-1] == "variable"
    np.testing.assert_array_equal(hv.values, f.hvp(*_numpy(x, y, z), direction=[1.0, 0.0, 2.0]))
    # a DataArray direction, by variable name (any order)
    d = xr.DataArray([2.0, 1.0, 0.0], dims="variable", coords={"variable": ["z", "x", "y"]})
    np.testing.assert_array_equal(f.hvp(x, y, z, direction=d).values, hv.values)
    s = f.sparse_hessian(x, y, z)
    assert s.values.dims[-1] == "entry"
    assert list(s.values.coords["row"].values) == [f.variables[r] for r in s.rows]


def test_vector_outputs_have_a_formula_dim(coords):
    x, y, z = coords
    field = symgrad.compile(["y*z", "x*z**2", "x*y"], variables="x y z")
    v = field(x, y, z)
    assert v.dims == ("x", "y", "t", "formula")
    j = field.jacobian(x, y, z)
    assert j.dims == ("x", "y", "t", "formula", "variable")
    np.testing.assert_array_equal(j.coords["formula"], [0, 1, 2])
    h = field.hessian(x, y, z)
    assert h.dims[-3:] == ("formula", "variable", "variable_2")
    c = field.curl(x, y, z)
    assert c.dims[-1] == "variable" and list(c.coords["variable"].values) == ["x", "y", "z"]
    np.testing.assert_array_equal(c.values, field.curl(*_numpy(x, y, z)))
    assert field.divergence(x, y, z).dims == ("x", "y", "t")


def test_broadcast_by_name_and_fused_evaluate(f, coords):
    x, y, z = coords
    yx = x * 0 + y  # dims (x, y): the same dims in another order still line up by name
    value, grad = f.evaluate(yx.transpose("y", "x"), y, z, outputs=("value", "gradient"))
    assert value.dims == ("y", "x", "t") and grad.dims == ("y", "x", "t", "variable")
    # a scalar and a NumPy single value mix in
    g2 = f.gradient(x, 1.0, np.float64(0.5))
    assert g2.dims == ("x", "variable")
    np.testing.assert_array_equal(g2.values, f.gradient(x.values, 1.0, 0.5))


def test_parameters_may_be_dataarrays(coords):
    x, y, _ = coords
    ev = symgrad.compile("a*x**2 + y", variables="x y", params="a")
    a = xr.DataArray([1.0, 2.0], dims="case")
    g = ev.gradient(x, y, a=a)
    assert g.dims == ("x", "y", "case", "variable")


def test_dask_backed_dataarray_stays_lazy(f, coords):
    dask = pytest.importorskip("dask")
    x, y, z = coords

    def refuse(*args, **kwargs):
        raise AssertionError("computed while building the graph")

    with dask.config.set(scheduler=refuse):
        g = f.gradient(x.chunk(2), y, z)
        h = f.hessian(x.chunk(2), y.chunk(2), z)
    assert g.chunks is not None and g.chunks[-1] == (3,)
    assert type(g.data).__module__.startswith("dask")
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(g.values, f.gradient(*_numpy(x, y, z)))
        np.testing.assert_array_equal(h.values, f.hessian(*_numpy(x, y, z)))


def test_errors(f, coords):
    x, y, z = coords
    with pytest.raises(symgrad.InputError, match="out= cannot be used"):
        f.gradient(x, y, z, out=np.empty((5, 4, 3, 3)))
    with pytest.raises(symgrad.InputError, match="already has a dimension named 'variable'"):
        f.gradient(x.rename(x="variable"), y, z)
    with pytest.raises(symgrad.InputError, match="Dataset"):
        f.gradient(x.to_dataset(name="xx"), y, z)
    with pytest.raises(symgrad.InputError, match="'variable' dimension"):
        f.hvp(x, y, z, direction=xr.DataArray([1.0, 2.0, 3.0], dims="d"))


def test_check_with_dataarray_grid():
    lat = np.linspace(60, -60, 61)  # descending, as latitudes often are
    lon = np.linspace(0, 90, 46)
    temperature = xr.DataArray(np.zeros((61, 46)), dims=("lat", "lon"),
                               coords={"lat": lat, "lon": lon})
    formula = "15 + 10*cos(lat/40)*sin(lon/30)"
    report = symgrad.check(formula, domain=temperature)
    assert report.ok
    assert report.settings["points"] == {"lat": 61, "lon": 46}
    assert report.settings["spacing"] == {"lat": 2.0, "lon": 2.0}
    again = symgrad.check(formula, domain={"lat": temperature.lat, "lon": temperature.lon})
    assert str(again) == str(report)
    assert str(symgrad.check(formula, domain=temperature.to_dataset(name="T"))) == str(report)
    with pytest.raises(symgrad.InputError, match="none named 'lon'"):
        symgrad.check(formula, domain=temperature.isel(lon=0, drop=True))
    with pytest.raises(symgrad.InputError, match="not uniformly spaced"):
        symgrad.check(formula, domain=temperature.assign_coords(lon=np.geomspace(1, 90, 46)))
    with pytest.raises(symgrad.InputError, match="points= does not apply"):
        symgrad.check(formula, domain=temperature, points=21)
