# Strict warnings for the project's own code (an INTERFACE target that each of our targets links
# privately, so third-party headers keep their own settings).
add_library(overflowd_warnings INTERFACE)
target_compile_options(overflowd_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
  -Wnon-virtual-dtor -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion -Wformat=2
  -Wimplicit-fallthrough -Wcast-align -Wunused)
if(OVERFLOWD_WERROR)
  target_compile_options(overflowd_warnings INTERFACE -Werror)
endif()
