# The Debian package (`make deb`): CMake install() rules and CPack's DEB generator. Chosen over a
# debian/ folder with debhelper because the build is CMake already: CPack packs this build folder
# as it is, in seconds, with no second build tree, no build-dependency resolution, and nothing of
# debian/rules to keep in step with CMakeLists.txt; dpkg-shlibdeps still computes Depends.
# The manual pages are made from the built program's own --help (scripts/gen-man), so the target
# `man` needs overflowd; `make deb` builds both, then runs cpack.

set(OVERFLOWD_MAN_DIR "${PROJECT_BINARY_DIR}/man")
set(OVERFLOWD_PKG_DIR "${PROJECT_BINARY_DIR}/pkg")
find_program(GZIP_EXECUTABLE gzip)
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_FOUND AND GZIP_EXECUTABLE)
  add_custom_command(
    OUTPUT "${OVERFLOWD_MAN_DIR}/overflowd.8.gz" "${OVERFLOWD_MAN_DIR}/overflowd.toml.5.gz"
    COMMAND "${Python3_EXECUTABLE}" "${PROJECT_SOURCE_DIR}/scripts/gen-man" "$<TARGET_FILE:overflowd>"
            "${PROJECT_SOURCE_DIR}/dist/config/overflowd.toml" "${OVERFLOWD_MAN_DIR}"
    COMMAND "${GZIP_EXECUTABLE}" -9nf "${OVERFLOWD_MAN_DIR}/overflowd.8" "${OVERFLOWD_MAN_DIR}/overflowd.toml.5"
    DEPENDS overflowd "${PROJECT_SOURCE_DIR}/scripts/gen-man" "${PROJECT_SOURCE_DIR}/dist/config/overflowd.toml"
    COMMENT "Manual pages from overflowd --help and dist/config/overflowd.toml"
    VERBATIM)
  # Part of every ordinary build (tests/integration/test_package.py packs the build folder); not of
  # the sanitizer and fuzzing builds, whose binary would be run to make them.
  if(OVERFLOWD_SANITIZE OR OVERFLOWD_TSAN OR OVERFLOWD_FUZZ)
    set(man_all "")
  else()
    set(man_all ALL)
  endif()
  add_custom_target(man ${man_all} DEPENDS "${OVERFLOWD_MAN_DIR}/overflowd.8.gz" "${OVERFLOWD_MAN_DIR}/overflowd.toml.5.gz")
endif()
configure_file("${PROJECT_SOURCE_DIR}/dist/changelog.in" "${OVERFLOWD_PKG_DIR}/changelog" @ONLY)
add_custom_command(
  OUTPUT "${OVERFLOWD_PKG_DIR}/changelog.gz"
  COMMAND "${GZIP_EXECUTABLE}" -9nkf "${OVERFLOWD_PKG_DIR}/changelog"
  DEPENDS "${OVERFLOWD_PKG_DIR}/changelog" VERBATIM)
add_custom_target(package_files ${man_all} DEPENDS "${OVERFLOWD_PKG_DIR}/changelog.gz")
if(TARGET man)
  add_dependencies(package_files man)
endif()

# The install() rules: the package's files alone (tests, benchmarks and fuzzers install nothing).
install(TARGETS overflowd RUNTIME DESTINATION bin)
install(FILES dist/systemd/overflowd.service dist/systemd/overflowd-receive.service
        DESTINATION /lib/systemd/system)  # where Debian 12 keeps packaged units
install(FILES dist/config/overflowd.toml dist/config/receive.toml dist/config/policy.toml DESTINATION /etc/overflowd)
install(FILES "${OVERFLOWD_MAN_DIR}/overflowd.8.gz" DESTINATION share/man/man8 OPTIONAL)
install(FILES "${OVERFLOWD_MAN_DIR}/overflowd.toml.5.gz" DESTINATION share/man/man5 OPTIONAL)
install(FILES dist/copyright "${OVERFLOWD_PKG_DIR}/changelog.gz" DESTINATION share/doc/overflowd OPTIONAL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME overflowd)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "signed reports on a random sample of flows, sent to their endpoints")
# The control file's Description: the summary above is its first line, this the rest.
string(CONCAT CPACK_DEBIAN_PACKAGE_DESCRIPTION
       "overflowd reads the flow exports (NetFlow v5/v9, IPFIX, sFlow v5) of a\n"
       "network's routers and reports a random few of the flows, more of the heavier\n"
       "ones, to their endpoints, signed with Ed25519, so that victims of floods and\n"
       "spoofing learn who sees their traffic. The subcommand receive takes such\n"
       "reports in, verifies and stores them, and serves an API and a web page.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # overflowd_<version>_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "overflowd maintainers <overflowd@example.net>")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/overflowd/overflowd")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libcurl is loaded at run time (dlopen) for HTTP(S) delivery, so dpkg-shlibdeps cannot see it.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libcurl4")
# libpcap (capture files and live capture) and libsystemd (sd_notify) are loaded at run time too
# (source/pcap_api, app/systemd_notify; issue 17's start-up): named here, since shlibdeps cannot see
# them. CPack adds shlibdeps' list to this one.
# librdkafka, c-ares, SQLite, libpq and OpenSSL are loaded on first use too (cmake/lazy_libraries.cmake:
# no DT_NEEDED entry, so shlibdeps cannot see them either).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libpcap0.8 (>= 1.5), libsystemd0, librdkafka1, libc-ares2, libsqlite3-0, libpq5, libssl3")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# The example configs in /etc/overflowd are conffiles: an upgrade keeps the operator's edits.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${PROJECT_SOURCE_DIR}/dist/conffiles")
set(CPACK_STRIP_FILES TRUE)
set(CPACK_PACKAGE_FILE_NAME "overflowd_${PROJECT_VERSION}_amd64")
include(CPack)
