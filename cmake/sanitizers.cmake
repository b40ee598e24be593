# -DOVERFLOWD_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer for everything built here.
if(OVERFLOWD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()

# -DOVERFLOWD_TSAN=ON: ThreadSanitizer for everything built here (make test-tsan builds only the
# threaded tests with it). Not with OVERFLOWD_SANITIZE: ASan and TSan exclude each other.
if(OVERFLOWD_TSAN)
  if(OVERFLOWD_SANITIZE OR OVERFLOWD_FUZZ)
    message(FATAL_ERROR "OVERFLOWD_TSAN excludes OVERFLOWD_SANITIZE and OVERFLOWD_FUZZ (AddressSanitizer)")
  endif()
  add_compile_options(-fsanitize=thread -O1 -fno-omit-frame-pointer)  # -O1: TSan's advice
  add_link_options(-fsanitize=thread)
  # GCC 12 under TSan warns of a null dereference inside CLI11's headers (CLI::detail::split),
  # falsely; the ordinary and ASan builds keep the warning.
  target_compile_options(overflowd_warnings INTERFACE -Wno-null-dereference)
  # Asio (the receiver's HTTP server) orders handler hand-offs with std::atomic_thread_fence, which
  # GCC warns TSan does not model (-Wtsan); the hand-offs also pass through the scheduler's mutex,
  # which TSan does see.
  target_compile_options(overflowd_warnings INTERFACE -Wno-tsan)
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
