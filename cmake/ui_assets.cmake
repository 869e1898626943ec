# The dashboard's page, compiled into the library: every file under ui/web/ listed here becomes
# a byte array in ${CMAKE_BINARY_DIR}/generated/ui_assets_data.c (cmake/embed_assets.cmake, a
# CMake script: no xxd, no npm, no network). The vendored chart library is committed built
# (ui/web/vendor/README says where it came from). Included by CMakeLists.txt after astrolab_obj.
set(ASTROLAB_UI_ASSETS index.html app.js style.css vendor/uPlot.iife.min.js vendor/uPlot.min.css)
set(ASTROLAB_UI_ASSETS_C ${CMAKE_BINARY_DIR}/generated/ui_assets_data.c)
set(ui_asset_files_)
foreach(f ${ASTROLAB_UI_ASSETS})
  list(APPEND ui_asset_files_ ${CMAKE_SOURCE_DIR}/ui/web/${f})
endforeach()
string(REPLACE ";" "," ui_asset_list_ "${ASTROLAB_UI_ASSETS}")
add_custom_command(OUTPUT ${ASTROLAB_UI_ASSETS_C}
  COMMAND ${CMAKE_COMMAND} -DROOT=${CMAKE_SOURCE_DIR}/ui/web -DOUT=${ASTROLAB_UI_ASSETS_C}
          -DASSETS=${ui_asset_list_} -P ${CMAKE_SOURCE_DIR}/cmake/embed_assets.cmake
  DEPENDS ${ui_asset_files_} ${CMAKE_SOURCE_DIR}/cmake/embed_assets.cmake
  COMMENT "Embedding the dashboard's assets (ui/web/)" VERBATIM)
target_sources(astrolab_obj PRIVATE ${ASTROLAB_UI_ASSETS_C})
