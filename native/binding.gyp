# The native backend's addon. It lives here, not at the package root, so that npm does not run
# its implicit `node-gyp rebuild` install script: src/build.mjs builds it, and a failed build
# there only warns (the runs fall back to the wasm backend).
{
  "targets": [{
    "target_name": "rnn_kernels",
    "sources": ["kernels.cc", "orthogonal.cc"],
    "cflags_cc": ["-O3", "-ffp-contract=off", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-maybe-uninitialized"],
    "libraries": ["-lm"],
    "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off"] }
  }, {
    "target_name": "rnn_peak",
    "sources": ["peak.cc"],
    "cflags_cc": ["-O2", "-Wall"]
  }]
}
