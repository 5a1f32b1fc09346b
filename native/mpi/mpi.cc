// rnn_mpi: the few MPI calls data-parallel training needs, as a Node-API addon over the system's
// MPI (Open MPI on Debian: openmpi-bin, libopenmpi-dev). Built by native/build.mjs only where
// mpicc exists; a machine without MPI trains on one host.
//
// Collectives run as napi async work, on a libuv pool thread, so the JavaScript thread (signal
// handlers, the stall watchdog, worker threads' replies) keeps running while a rank waits for the
// others. They work in place on typed arrays, which may be views of the run's shared
// WebAssembly.Memory: no copies. JavaScript issues one collective at a time (a second one while
// one is in flight is refused), which is what MPI_THREAD_SERIALIZED asks of us.

// The C API only: Open MPI and MPICH otherwise pull in their deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <node_api.h>

#include <dlfcn.h>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

int g_rank = 0, g_size = 1;
bool g_inited = false, g_finalized = false, g_busy = false;
std::vector<int> g_displs; // allgatherv's displacements (size ranks), allocated once at init

napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

std::string mpiError(const char* call, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  return std::string(call) + " failed: " + (len > 0 ? std::string(text, len) : "MPI error " + std::to_string(code));
}

/**
 * Open MPI loads its transports (MCA components) as plugins that expect libmpi's symbols to be
 * global; a Node addon is loaded RTLD_LOCAL, and so is the libmpi it links. Re-open that same
 * library (found from one of its symbols) with RTLD_GLOBAL before MPI_Init.
 */
void promoteLibmpi() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &info) != 0 && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

/** init() → { rank, size, thread: 'serialized' | 'multiple', processor }: MPI_Init_thread, errors returned (not fatal). */
napi_value js_init(napi_env env, napi_callback_info) {
  if (!g_inited) {
    promoteLibmpi();
    int provided = 0;
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) return fail(env, mpiError("MPI_Init_thread", rc));
    if (provided < MPI_THREAD_SERIALIZED)
      return fail(env, "MPI_Init_thread: this MPI does not provide MPI_THREAD_SERIALIZED (collectives run off the main thread)");
    // A failed collective (a rank died, the network broke) returns an error instead of aborting.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_displs.assign(g_size, 0);
    g_inited = true;
  }
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_int32(env, g_rank, &v);
  napi_set_named_property(env, obj, "rank", v);
  napi_create_int32(env, g_size, &v);
  napi_set_named_property(env, obj, "size", v);
  napi_create_string_utf8(env, name, len, &v);
  napi_set_named_property(env, obj, "processor", v);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  MPI_Get_library_version(version, &len);
  const char* eol = std::strchr(version, ',');
  napi_create_string_utf8(env, version, eol ? eol - version : len, &v);
  napi_set_named_property(env, obj, "library", v);
  return obj;
}

enum class Op { Allreduce, Allgather, Allgatherv, Bcast, Barrier };

/** One collective in flight: its arguments, the arrays kept alive, the promise to settle. */
struct Work {
  Op op;
  void* a = nullptr; // the buffer (in place), or allgather's send buffer
  void* b = nullptr; // allgather's receive buffer
  int count = 0;     // elements of a
  const int* counts = nullptr; // allgatherv: elements from each rank
  MPI_Datatype type = MPI_BYTE;
  MPI_Op reduce = MPI_SUM;
  int root = 0;
  int rc = MPI_SUCCESS;
  const char* call = "";
  napi_ref refs[3] = {nullptr, nullptr, nullptr};
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

void execute(napi_env, void* data) {
  Work* w = static_cast<Work*>(data);
  switch (w->op) {
    case Op::Allreduce:
      w->rc = MPI_Allreduce(MPI_IN_PLACE, w->a, w->count, w->type, w->reduce, MPI_COMM_WORLD);
      break;
    case Op::Allgather:
      w->rc = MPI_Allgather(w->a, w->count, w->type, w->b, w->count, w->type, MPI_COMM_WORLD);
      break;
    case Op::Allgatherv: {
      int at = 0;
      for (int r = 0; r < g_size; r++) { g_displs[r] = at; at += w->counts[r]; }
      w->rc = MPI_Allgatherv(w->a, w->count, w->type, w->b, w->counts, g_displs.data(), w->type, MPI_COMM_WORLD);
      break;
    }
    case Op::Bcast:
      w->rc = MPI_Bcast(w->a, w->count, w->type, w->root, MPI_COMM_WORLD);
      break;
    case Op::Barrier:
      w->rc = MPI_Barrier(MPI_COMM_WORLD);
      break;
  }
}

void complete(napi_env env, napi_status, void* data) {
  Work* w = static_cast<Work*>(data);
  g_busy = false;
  if (w->rc == MPI_SUCCESS) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, w->deferred, undef);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, mpiError(w->call, w->rc).c_str(), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_reject_deferred(env, w->deferred, err);
  }
  for (napi_ref r : w->refs)
    if (r) napi_delete_reference(env, r);
  napi_delete_async_work(env, w->work);
  delete w;
}

/** A typed array's data, element count and MPI type (float32, float64, int32, uint8). */
bool viewOf(napi_env env, napi_value v, void** data, int* count, MPI_Datatype* type) {
  bool typed = false;
  if (napi_is_typedarray(env, v, &typed) != napi_ok || !typed) return false;
  napi_typedarray_type t;
  size_t length, offset;
  napi_value buffer;
  if (napi_get_typedarray_info(env, v, &t, &length, data, &buffer, &offset) != napi_ok) return false;
  if (length > INT32_MAX) return false;
  *count = static_cast<int>(length);
  switch (t) {
    case napi_float32_array: *type = MPI_FLOAT; return true;
    case napi_float64_array: *type = MPI_DOUBLE; return true;
    case napi_int32_array: *type = MPI_INT; return true;
    case napi_uint8_array: *type = MPI_BYTE; return true;
    default: return false;
  }
}

napi_value start(napi_env env, Work* w, napi_value* keep, int nKeep) {
  if (!g_inited || g_finalized) { delete w; return fail(env, "rnn_mpi: MPI is not initialized (call init() first)"); }
  if (g_busy) { delete w; return fail(env, "rnn_mpi: a collective is already in flight (they run one at a time)"); }
  for (int i = 0; i < nKeep; i++) napi_create_reference(env, keep[i], 1, &w->refs[i]);
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, w->call, NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, execute, complete, w, &w->work);
  g_busy = true;
  napi_queue_async_work(env, w->work);
  return promise;
}

/** allreduce(view, 'sum' | 'min' | 'max') → Promise: MPI_Allreduce in place. */
napi_value js_allreduce(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Work* w = new Work{};
  w->op = Op::Allreduce;
  w->call = "MPI_Allreduce";
  if (argc < 1 || !viewOf(env, argv[0], &w->a, &w->count, &w->type)) { delete w; return fail(env, "rnn_mpi.allreduce: expected a Float32Array, Float64Array or Int32Array"); }
  char op[8] = "sum";
  size_t len;
  if (argc >= 2) napi_get_value_string_utf8(env, argv[1], op, sizeof op, &len);
  w->reduce = std::strcmp(op, "min") == 0 ? MPI_MIN : std::strcmp(op, "max") == 0 ? MPI_MAX : MPI_SUM;
  return start(env, w, argv, 1);
}

/** allgather(send, recv) → Promise: recv = every rank's send, in rank order (recv.length = size × send.length). */
napi_value js_allgather(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Work* w = new Work{};
  w->op = Op::Allgather;
  w->call = "MPI_Allgather";
  int nRecv = 0;
  MPI_Datatype tRecv;
  if (argc < 2 || !viewOf(env, argv[0], &w->a, &w->count, &w->type) || !viewOf(env, argv[1], &w->b, &nRecv, &tRecv) ||
      tRecv != w->type || static_cast<long>(nRecv) < static_cast<long>(w->count) * g_size) {
    delete w;
    return fail(env, "rnn_mpi.allgather: expected two typed arrays of one type, the second size × the first's length");
  }
  return start(env, w, argv, 2);
}

/** allgatherv(send, recv, counts: Int32Array) → Promise: rank r's send.length = counts[r] elements, packed in rank order. */
napi_value js_allgatherv(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Work* w = new Work{};
  w->op = Op::Allgatherv;
  w->call = "MPI_Allgatherv";
  int nRecv = 0, nCounts = 0;
  MPI_Datatype tRecv, tCounts;
  void* counts = nullptr;
  if (argc < 3 || !viewOf(env, argv[0], &w->a, &w->count, &w->type) || !viewOf(env, argv[1], &w->b, &nRecv, &tRecv) ||
      !viewOf(env, argv[2], &counts, &nCounts, &tCounts) || tRecv != w->type || tCounts != MPI_INT || nCounts < g_size) {
    delete w;
    return fail(env, "rnn_mpi.allgatherv: expected send and receive arrays of one type and an Int32Array of counts per rank");
  }
  w->counts = static_cast<const int*>(counts);
  long total = 0;
  for (int r = 0; r < g_size; r++) total += w->counts[r];
  if (total > nRecv || w->counts[g_rank] != w->count) { delete w; return fail(env, "rnn_mpi.allgatherv: the receive array is shorter than the counts' sum, or counts[rank] is not send.length"); }
  return start(env, w, argv, 3);
}

/** bcast(view, root) → Promise: root's view into every rank's. */
napi_value js_bcast(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  Work* w = new Work{};
  w->op = Op::Bcast;
  w->call = "MPI_Bcast";
  if (argc < 1 || !viewOf(env, argv[0], &w->a, &w->count, &w->type)) { delete w; return fail(env, "rnn_mpi.bcast: expected a typed array"); }
  if (argc >= 2) napi_get_value_int32(env, argv[1], &w->root);
  return start(env, w, argv, 1);
}

napi_value js_barrier(napi_env env, napi_callback_info) {
  Work* w = new Work{};
  w->op = Op::Barrier;
  w->call = "MPI_Barrier";
  return start(env, w, nullptr, 0);
}

/** abort(code): MPI_Abort on every rank (mpirun ends the job). Does not return. */
napi_value js_abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int code = 1;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc >= 1) napi_get_value_int32(env, argv[0], &code);
  if (g_inited && !g_finalized) MPI_Abort(MPI_COMM_WORLD, code);
  return nullptr;
}

/** finalize(): MPI_Finalize, once, with no collective in flight. */
napi_value js_finalize(napi_env env, napi_callback_info) {
  if (g_busy) return fail(env, "rnn_mpi.finalize: a collective is still in flight");
  if (g_inited && !g_finalized) {
    g_finalized = true;
    int rc = MPI_Finalize();
    if (rc != MPI_SUCCESS) return fail(env, mpiError("MPI_Finalize", rc));
  }
  return nullptr;
}

}  // namespace

NAPI_MODULE_INIT() {
  static const struct {
    const char* name;
    napi_callback cb;
  } fns[] = {
      {"init", js_init},           {"allreduce", js_allreduce}, {"allgather", js_allgather},
      {"allgatherv", js_allgatherv}, {"bcast", js_bcast},       {"barrier", js_barrier},
      {"abort", js_abort},         {"finalize", js_finalize},
  };
  for (const auto& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  return exports;
}
