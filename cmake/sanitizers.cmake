# -DOVERFLOWD_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer for everything built here.
if(OVERFLOWD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
