# The version overflowd prints (--version): the CMake project version, plus `git describe` of the
# source tree when git and a checkout are there at configure time. Written to a generated header
# only main.cpp includes, and only when its text changes: a commit does not rebuild anything; run
# `cmake build` (or `make deb`, which configures) to refresh the git part.
set(OVERFLOWD_GIT_DESCRIBE "")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" describe --tags --always --dirty
                  WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
                  OUTPUT_VARIABLE OVERFLOWD_GIT_DESCRIBE OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET RESULT_VARIABLE git_result)
  if(NOT git_result EQUAL 0)
    set(OVERFLOWD_GIT_DESCRIBE "")
  endif()
endif()
set(OVERFLOWD_VERSION_STRING "${PROJECT_VERSION}")
if(OVERFLOWD_GIT_DESCRIBE)
  string(APPEND OVERFLOWD_VERSION_STRING " (git ${OVERFLOWD_GIT_DESCRIBE})")
endif()
configure_file("${PROJECT_SOURCE_DIR}/src/app/version.hpp.in"
               "${PROJECT_BINARY_DIR}/generated/app/version.hpp" @ONLY)
message(STATUS "overflowd version: ${OVERFLOWD_VERSION_STRING}")
