"""The grading kit: autograde a whole class with nbgrader, in parallel, sandboxed, resumable and shardable.

    python -m cnnlab_grade ASSIGNMENT SUBMITTED_DIR [--workers N] [--csv FILE] [--db URL] [--timeout SECONDS]
                           [--memory MB] [--shard I/N] [--feedback] [--force] [--unsafe]
    python -m cnnlab_grade merge DB_URL... --db URL

nbgrader stays the source of truth: each submission is autograded by nbgrader's own converter in a private
course folder with a private gradebook, and one writer copies the result into the class gradebook. See
docs/grading.md. Modules, one job each:

    errors     the grader's own one-sentence failures
    options    the command line: arguments, shards, defaults
    course     the course's nbgrader configuration and the submissions it holds
    gradebook  nbgrader's gradebook: assignment structure, submissions in and out, the kit's records
    sandbox    how kernels are isolated on this machine (bubblewrap, limits, a separate user)
    launch     runs inside the sandbox: applies the limits, then becomes the kernel
    kernel     jupyter_client's kernel manager, started inside the sandbox
    guard      restores cnnlab's checks before each graded cell, and probes them: the grader's side
    guard_kernel  the guard's code that runs in the kernel, sent there as source (imports only the standard library)
    execute    nbgrader's Execute preprocessor with time, output and tampering guards
    worker     grades one submission in a private course folder
    pool       worker processes, one submission at a time each
    report     progress bar, summary and CSV
    run        one grading run, from options to exit code
    merge      the merge command: shard gradebooks into one

A distribution of its own (grading/pyproject.toml, ``cnnlab-grade``) that depends on cnnlab: nothing in cnnlab
imports this package. ``launch`` imports nothing from it: it runs inside the sandbox.
"""
