# overflowd_link_by_includes(target source): links `target` to the smallest set of the project's
# libraries that `source` needs, read from its #include lines: a test or benchmark of pure core
# code never pulls in libpcap, SQLite or the HTTP library, and one of the verifier does not link
# the store. (A header of tests/ is looked at too when the source includes it by its folder.)
function(overflowd_link_by_includes target source)
  file(READ ${source} text)
  set(libraries overflowd_core)
  foreach(pair "(source|sink|io|notify|discovery/net)/:overflowd_io" "receive/:overflowd_receive" "store/:overflowd_store"
               "api/:overflowd_api" "app/:overflowd_app" "sim/:overflowd_sim"
               "proto/:overflowd_flowpb")
    string(REPLACE ":" ";" pair "${pair}")
    list(GET pair 0 folder)
    list(GET pair 1 library)
    if(text MATCHES "#include \"${folder}")
      list(APPEND libraries ${library})
    endif()
  endforeach()
  if(text MATCHES "#include <pcap")  # libpcap called directly (overflowd itself loads it at run time)
    list(APPEND libraries PkgConfig::PCAP)
  endif()
  target_link_libraries(${target} PRIVATE ${libraries})
endfunction()
