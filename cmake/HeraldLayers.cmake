# Herald's layers as libraries whose dependencies go one way (docs/architecture.md, "Layers").
#
#   herald_layer(NAME DIRS folder... [ROOT dir] [VIEWS folder...] [SOURCES file...]
#                [DEPENDS lib...] [LINK lib...] [PCH header...])
#
# builds NAME from every .cpp in its DIRS (not *_test.cpp) and SOURCES. Each folder of DIRS
# and VIEWS (whose sources the caller lists itself) is
# included as "<folder>/<file>.hpp" through an include view of the library's own: a folder
# of symbolic links, <build>/include/NAME/<folder> -> the folder. A library sees the views
# of what it DEPENDS on (and what they depend on), nothing else: an #include that points up
# the layers, or sideways to a layer not depended on, finds no file and fails the build.
function(herald_layer name)
  cmake_parse_arguments(L "" "ROOT" "DIRS;VIEWS;SOURCES;DEPENDS;LINK;PCH" ${ARGN})
  if(NOT L_ROOT)
    set(L_ROOT ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  set(view ${CMAKE_BINARY_DIR}/include/${name})
  set(sources ${L_SOURCES})
  foreach(dir IN LISTS L_DIRS)
    file(GLOB_RECURSE found CONFIGURE_DEPENDS ${L_ROOT}/${dir}/*.cpp)
    list(FILTER found EXCLUDE REGEX "_test\\.cpp$")
    list(APPEND sources ${found})
    herald_link_view(${L_ROOT}/${dir} ${view}/${dir})
  endforeach()
  foreach(dir IN LISTS L_VIEWS)
    herald_link_view(${L_ROOT}/${dir} ${view}/${dir})
  endforeach()
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${view})
  target_link_libraries(${name} PUBLIC ${L_DEPENDS} ${L_LINK})
  if(HERALD_PCH AND L_PCH)
    target_precompile_headers(${name} PRIVATE ${L_PCH})
  endif()
endfunction()

# <link> -> <target>, made or mended at configure time (file(CREATE_LINK) alone does not
# replace a link to a folder).
function(herald_link_view target link)
  if(IS_SYMLINK ${link})
    file(READ_SYMLINK ${link} current)
    if(current STREQUAL target)
      return()
    endif()
    file(REMOVE ${link})
  endif()
  get_filename_component(parent ${link} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  file(CREATE_LINK ${target} ${link} SYMBOLIC)
endfunction()

# PCH: the heavy third-party headers most of a layer's files include (Boost's Asio, Beast,
# JSON), compiled once per library rather than once per file.
option(HERALD_PCH "Precompile the heavy third-party headers of each library" ON)

# ---- the gateway types (adapters/CMakeLists.txt) ------------------------------------------

# herald_gateway(TYPE HEADER CLASS): one gateway type; HEADER is relative to adapters/.
function(herald_gateway type header class)
  get_filename_component(folder ${header} DIRECTORY)
  set_property(GLOBAL APPEND PROPERTY HERALD_GATEWAY_TYPES ${type})
  set_property(GLOBAL PROPERTY HERALD_GATEWAY_${type}_HEADER ${header})
  set_property(GLOBAL PROPERTY HERALD_GATEWAY_${type}_CLASS ${class})
  set_property(GLOBAL PROPERTY HERALD_GATEWAY_${type}_FOLDER ${folder})
endfunction()

# The types' folders, each once, in the order listed.
function(herald_gateway_folders out)
  get_property(types GLOBAL PROPERTY HERALD_GATEWAY_TYPES)
  set(folders)
  foreach(type IN LISTS types)
    get_property(folder GLOBAL PROPERTY HERALD_GATEWAY_${type}_FOLDER)
    list(APPEND folders ${folder})
  endforeach()
  list(REMOVE_DUPLICATES folders)
  set(${out} ${folders} PARENT_SCOPE)
endfunction()

# The listed adapters' sources and tests (*_test.cpp), from their folders.
function(herald_gateway_sources sources_out tests_out)
  herald_gateway_folders(folders)
  set(sources)
  set(tests)
  foreach(folder IN LISTS folders)
    file(GLOB found CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${folder}/*.cpp)
    foreach(f IN LISTS found)
      if(f MATCHES "_test\\.cpp$")
        list(APPEND tests ${f})
      else()
        list(APPEND sources ${f})
      endif()
    endforeach()
  endforeach()
  set(${sources_out} ${sources} PARENT_SCOPE)
  set(${tests_out} ${tests} PARENT_SCOPE)
endfunction()

# For registry.cpp: gateway_headers.inc (each adapter's header) and gateway_table.inc (the
# table of types: name and factory); for the tests, gateway_fixtures.inc (the folders).
function(herald_gateway_registry target)
  get_property(types GLOBAL PROPERTY HERALD_GATEWAY_TYPES)
  set(headers)
  set(table)
  foreach(type IN LISTS types)
    get_property(header GLOBAL PROPERTY HERALD_GATEWAY_${type}_HEADER)
    get_property(class GLOBAL PROPERTY HERALD_GATEWAY_${type}_CLASS)
    list(APPEND headers "#include \"adapters/${header}\"")
    string(APPEND table "{\"${type}\", &${class}::from_yaml},\n")
  endforeach()
  list(REMOVE_DUPLICATES headers)
  list(JOIN headers "\n" headers)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/generated)
  set(note "// Generated from adapters/CMakeLists.txt (its herald_gateway lines): do not edit.")
  file(CONFIGURE OUTPUT ${out}/gateway_headers.inc CONTENT "${note}\n${headers}\n")
  file(CONFIGURE OUTPUT ${out}/gateway_table.inc CONTENT "${note}\n${table}")
  # For the shared fixture tests (adapters/gateway_fixtures_test.cpp): each folder once.
  herald_gateway_folders(folders)
  list(TRANSFORM folders REPLACE "(.+)" "\"\\1\",")
  list(JOIN folders "\n" folders)
  file(CONFIGURE OUTPUT ${out}/gateway_fixtures.inc CONTENT "${note}\n${folders}\n")
  set_property(GLOBAL PROPERTY HERALD_GATEWAY_GENERATED ${out})
  target_include_directories(${target} PRIVATE ${out})
endfunction()
