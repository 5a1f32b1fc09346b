# The MPI binding (rnn_mpi.node), apart from the kernels' binding.gyp so that a machine without
# MPI still builds the kernels: native/build.mjs builds this one only where `mpicc` exists, and
# takes the compile and link flags from it (Open MPI's wrapper: --showme:compile / --showme:link).
{
  "targets": [{
    "target_name": "rnn_mpi",
    "sources": ["mpi.cc"],
    "cflags_cc": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(mpicc --showme:compile)"],
    "libraries": ["<!@(mpicc --showme:link)", "-ldl"]
  }]
}
