"""Every AstroLab error is an astro_lab.AstroLabError and the built-in exception Python code
would catch for it; wrong argument types are TypeErrors; bad files raise, never crash."""
import errno
import os

import pytest

import astro_lab
from astrolab import _astrolab
from astro_lab.tensors import SurveyTensorDict

CODES = {  # AstroLab code -> the built-in it must also be
    -1: MemoryError, -202: MemoryError, -5: KeyError, -4: OSError, -301: ValueError,
    -300: ValueError, -302: ValueError, -401: ValueError, -2: ValueError, -7: ValueError,
    -6: NotImplementedError, -201: NotImplementedError, -3: astro_lab.AstroLabError,
    -105: astro_lab.AstroLabError, -500: astro_lab.AstroLabError,
}


@pytest.mark.parametrize("code,builtin", sorted(CODES.items()))
def test_every_code_maps_to_a_subclass_of_the_base(code, builtin):
    with pytest.raises(astro_lab.AstroLabError) as info:
        _astrolab._raise(code, "detail")
    assert isinstance(info.value, builtin)
    assert "detail" in str(info.value)


def test_not_found_with_a_path_is_file_not_found_with_errno_and_filename():
    with pytest.raises(FileNotFoundError) as info:
        _astrolab._raise(-5, "no such file", "/x/y.fits")
    assert info.value.errno == errno.ENOENT and info.value.filename == "/x/y.fits"


def test_missing_file(tmp_path):
    path = str(tmp_path / "missing.fits")
    with pytest.raises(FileNotFoundError) as info:
        SurveyTensorDict.from_file(path)
    assert isinstance(info.value, astro_lab.AstroLabError)
    assert info.value.errno == errno.ENOENT and info.value.filename == path


def test_a_directory_is_an_os_error(tmp_path):
    with pytest.raises(OSError) as info:
        SurveyTensorDict.from_file(str(tmp_path))
    assert isinstance(info.value, astro_lab.AstroLabError)


def test_malformed_fits_is_a_value_error(tmp_path):
    path = tmp_path / "bad.fits"
    path.write_bytes(b"SIMPLE  =                    T" + b" " * 50 + b"garbage" * 100)
    with pytest.raises(ValueError) as info:
        SurveyTensorDict.from_file(str(path))
    assert isinstance(info.value, astro_lab.AstroLabError)


def test_missing_column_is_a_key_error_not_a_missing_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(KeyError) as info:
        SurveyTensorDict.from_file(str(path), columns=["nope"])
    assert not isinstance(info.value, FileNotFoundError)


def test_wrong_argument_types_are_type_errors(tmp_path):
    with pytest.raises(TypeError):
        SurveyTensorDict.from_file(42)
    with pytest.raises(TypeError):
        SurveyTensorDict.from_file(str(tmp_path / "x"), hdu=1.5)
    with pytest.raises(TypeError):
        SurveyTensorDict.from_file(str(tmp_path / "x"), columns="ra")
    with pytest.raises(TypeError):
        SurveyTensorDict.from_file(str(tmp_path / "x"), columns=[1])
    with pytest.raises(TypeError):
        SurveyTensorDict.from_file(str(tmp_path / "x"), progress=3)
    with pytest.raises(ValueError):
        SurveyTensorDict.from_file(str(tmp_path / "x"), hdu=-1)
    with pytest.raises(TypeError):
        _astrolab._raise("x", "y")


def test_path_like_objects_are_accepted(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    td = SurveyTensorDict.from_file(path)  # a pathlib.Path
    assert list(td["a"]) == [1, 3]
    assert os.fspath(path)
