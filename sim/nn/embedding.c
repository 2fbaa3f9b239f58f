/* Embedding lookup kernels. See embedding.h. No allocation; ids are range-checked because
 * they come from data files. */
#include "nn/embedding.h"

#include <stddef.h>
#include <string.h>

fs_err nn_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int V, int D)
{
    for (int i = 0; i < N; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= V)
            return fs_error(FS_EINPUT, "embedding: id %d at position %d outside [0, %d)", id, i, V);
        memcpy(out + (size_t)i * D, table + (size_t)id * D, sizeof(float) * (size_t)D);
    }
    return FS_OK;
}

fs_err nn_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int V,
                             int D)
{
    for (int i = 0; i < N; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= V)
            return fs_error(FS_EINPUT, "embedding: id %d at position %d outside [0, %d)", id, i, V);
        float *row = dtable + (size_t)id * D;
        const float *g = dout + (size_t)i * D;
        for (int j = 0; j < D; j++) row[j] += g[j];
    }
    return FS_OK;
}
