# -DOVERFLOWD_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer for everything built here.
if(OVERFLOWD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()

# -DOVERFLOWD_FUZZ=ON (with clang): every library is instrumented for libFuzzer's coverage and
# built with ASan + UBSan; the fuzz/ targets link libFuzzer's driver.
if(OVERFLOWD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "OVERFLOWD_FUZZ needs clang (configure with -DCMAKE_CXX_COMPILER=clang++-16)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  # libstdc++ 12 gates <expected> on __cpp_concepts >= 202002L, which clang 16 implements (P0848,
  # conditionally trivial special members) but does not yet advertise. Say so, for this build only.
  add_compile_options(-Wno-macro-redefined -D__cpp_concepts=202002L)
endif()
