# Fails when a doctest case name holds a character CTest's discovery cannot pass through as a
# filter (',' and ';' split it, '"' breaks it): such a case would run no assertions under ctest.
string(REPLACE "|" ";" BINARIES "${BINARIES}")
foreach(binary IN LISTS BINARIES)
  execute_process(COMMAND ${binary} --list-test-cases --no-version OUTPUT_VARIABLE out
                  RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "${binary} --list-test-cases failed")
  endif()
  string(REPLACE ";" "<semicolon>" out "${out}")
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line IN LISTS lines)
    if(line MATCHES "[,\"]" OR line MATCHES "<semicolon>")
      message(SEND_ERROR "test case name ctest cannot run: ${line}")
    endif()
  endforeach()
endforeach()
