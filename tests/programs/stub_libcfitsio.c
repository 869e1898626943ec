/* A stand-in for libcfitsio.so that lacks CFITSIO's functions, for test_cli: a library that
 * loads but is not CFITSIO, so the survey commands must say that CFITSIO could not be loaded. */
int stub_libcfitsio_is_not_cfitsio = 1;
