/* fuzz/replay_main.c - runs LLVMFuzzerTestOneInput over saved inputs, for builds without
   libFuzzer (gcc). Every regular file in the directories given as arguments (a plain file
   argument is replayed as is) is fed once, directories in argument order and files sorted by
   name, so a run is deterministic. Prints "replayed N inputs"; exits 1 if a directory or file
   cannot be read. A failing check inside the target aborts. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the whole file into an exact-size buffer (ASan then catches reads past the end)
   and feeds it to the target. Returns 0, or -1 if it cannot be read. */
static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    long size;
    uint8_t *buf;
    size_t got;
    if (!f) return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    buf = (uint8_t *)malloc(size ? (size_t)size : 1);
    if (!buf) {
        fclose(f);
        return -1;
    }
    got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    return 0;
}

/* Collects the regular files of dir, sorts them, replays each. Returns the count or -1. */
static long replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *ent;
    char **paths = NULL, *path;
    size_t n = 0, cap = 0, i;
    long done = 0;
    struct stat st;
    if (!d) return -1;
    while ((ent = readdir(d)) != NULL) {
        size_t len = strlen(dir) + strlen(ent->d_name) + 2;
        if (!(path = (char *)malloc(len))) {
            done = -1; /* out of memory: report failure rather than replay a subset */
            break;
        }
        snprintf(path, len, "%s/%s", dir, ent->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (n == cap) {
            char **grown = (char **)realloc(paths, (cap ? cap * 2 : 64) * sizeof *paths);
            if (!grown) {
                free(path);
                done = -1;
                break;
            }
            paths = grown;
            cap = cap ? cap * 2 : 64;
        }
        paths[n++] = path;
    }
    closedir(d);
    if (n) qsort(paths, n, sizeof *paths, replay_cmp);
    for (i = 0; i < n; i++) {
        if (done >= 0 && replay_file(paths[i]) == 0) done++;
        else done = -1;
        free(paths[i]);
    }
    free(paths);
    return done;
}

int main(int argc, char **argv) {
    long total = 0, got;
    struct stat st;
    int i;
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode))
            got = replay_file(argv[i]) == 0 ? 1 : -1;
        else
            got = replay_dir(argv[i]);
        if (got < 0) {
            fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[i]);
            return 1;
        }
        total += got;
    }
    printf("replayed %ld inputs\n", total);
    return 0;
}
