# The page of `astrolab run --html FILE`, compiled into the astrolab tool as the dashboard's is
# into the library (cmake/ui_assets.cmake): every file listed here, under ui/, becomes a byte
# array in ${CMAKE_BINARY_DIR}/generated/run_html_assets.c, in the table run_html_assets[]
# (tools/run_html.h). The vendored libraries are committed built (ui/run/vendor/README says
# where they came from); uPlot is the dashboard's copy. Included by CMakeLists.txt after
# astrolab_cli.
set(ASTROLAB_RUN_HTML_ASSETS run/report.html run/report.css run/report.js
    run/vendor/d3.min.js run/vendor/d3-flamegraph.min.js
    web/vendor/uPlot.iife.min.js web/vendor/uPlot.min.css)
set(ASTROLAB_RUN_HTML_C ${CMAKE_BINARY_DIR}/generated/run_html_assets.c)
set(run_html_files_)
foreach(f ${ASTROLAB_RUN_HTML_ASSETS})
  list(APPEND run_html_files_ ${CMAKE_SOURCE_DIR}/ui/${f})
endforeach()
string(REPLACE ";" "," run_html_list_ "${ASTROLAB_RUN_HTML_ASSETS}")
add_custom_command(OUTPUT ${ASTROLAB_RUN_HTML_C}
  COMMAND ${CMAKE_COMMAND} -DROOT=${CMAKE_SOURCE_DIR}/ui -DOUT=${ASTROLAB_RUN_HTML_C}
          -DASSETS=${run_html_list_} -DHEADER=run_html.h -DTABLE=run_html_assets
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_assets.cmake
  DEPENDS ${run_html_files_} ${CMAKE_SOURCE_DIR}/cmake/embed_assets.cmake
  COMMENT "Embedding the page of astrolab run --html (ui/run/)" VERBATIM)
target_sources(astrolab_cli PRIVATE ${ASTROLAB_RUN_HTML_C})
target_include_directories(astrolab_cli PRIVATE ${CMAKE_SOURCE_DIR}/tools)
