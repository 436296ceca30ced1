/* temp_dir.h - scratch directories for tests that use the POSIX env's files: one made
   fresh under $TMPDIR (default /tmp), and its removal with the files in it (a database
   makes no subdirectories). Include after <dirent.h> and <unistd.h>. */
#ifndef TIDAL_TEST_TEMP_DIR_H
#define TIDAL_TEST_TEMP_DIR_H

/* A fresh directory "<TMPDIR>/<prefix>XXXXXX" into out; 0 if it cannot be made. */
static inline int temp_dir_make(const char *prefix, char *out, size_t cap) {
    const char *t = getenv("TMPDIR");
    snprintf(out, cap, "%s/%sXXXXXX", t && *t ? t : "/tmp", prefix);
    return mkdtemp(out) != NULL;
}

/* Removes dir and the files in it. */
static inline void temp_dir_remove(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p) unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

#endif
