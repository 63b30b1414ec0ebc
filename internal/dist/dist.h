// The C interface of dist.cc (internal/dist's cgo shim over libtorch's c10d).
#ifndef SSD_DIST_H
#define SSD_DIST_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { SSD_DIST_SUM = 0, SSD_DIST_MAX = 1, SSD_DIST_MIN = 2 };

typedef struct ssd_store ssd_store;
typedef struct ssd_dist ssd_dist;

// Every function that can fail returns 0 (or a handle) on success and otherwise sets *err
// to a malloc'd message.
ssd_store* ssd_store_new(const char* host, int port, int server, int world, int64_t timeout_ms, char** err);
int ssd_store_port(ssd_store* s);
int ssd_store_add(ssd_store* s, const char* key, int64_t delta, int64_t* out, char** err);
int ssd_store_set(ssd_store* s, const char* key, const uint8_t* val, int64_t n, char** err);
int ssd_store_get(ssd_store* s, const char* key, uint8_t** out, int64_t* n, char** err);
void ssd_store_free(ssd_store* s);

ssd_dist* ssd_dist_new(ssd_store* s, const char* prefix, int rank, int world, const char* iface, const char* host,
                       int64_t timeout_ms, char** err);
int ssd_dist_allreduce(ssd_dist* d, void** ts, int n, int op, char** err);
int ssd_dist_broadcast(ssd_dist* d, void** ts, int n, int root, char** err);
int ssd_dist_allgather(ssd_dist* d, void* in, void** outs, int world, char** err);
int ssd_dist_barrier(ssd_dist* d, char** err);
void ssd_dist_free(ssd_dist* d);

// ssd_dist_sync_batch_norm is training-mode BatchNorm over every rank's batch (syncbn.cc):
// x is [N, C, ...], weight and bias [C] (either may be NULL), running_mean and running_var
// [C] are updated in place. *out receives a new torch::Tensor* that records the operation
// for autograd; its backward runs an allreduce, so every rank must run it too.
int ssd_dist_sync_batch_norm(ssd_dist* d, void* x, void* weight, void* bias, void* running_mean,
                             void* running_var, double momentum, double eps, void** out, char** err);

#ifdef __cplusplus
}
#endif
#endif
