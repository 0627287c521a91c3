"""hydra.sweeper.storage as Optuna's storage: where a study lives, so that it outlives the process and every
process given the same storage and study_name shares it.

    null                        in this process only (lost when the sweep ends)
    journal:<file>              a journal file (Optuna's JournalStorage): processes on any machines that see
                                the file (a shared filesystem, as SLURM jobs have) share the study, no server
    sqlite:///<file>            a SQLite database: processes on this machine
    postgresql://user:password@host/db, mysql://...   a database server (any SQLAlchemy URL)
"""

from __future__ import annotations

import time
from pathlib import Path

JOURNAL = "journal:"


def open_storage(url: str | None):
    """Optuna's storage for ``url`` (see above); None: Optuna's in-memory storage."""
    if url is None:
        return None
    import optuna

    if url.startswith(JOURNAL):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix(JOURNAL)).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        # the default lock is a symlink made and removed atomically, which network filesystems (NFS) keep
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    if url.startswith("postgresql://"):
        # the driver the sweeps extra installs: SQLAlchemy 2.1 would take psycopg 3 for a bare postgresql://
        url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    try:
        return optuna.storages.RDBStorage(url)
    except (IntegrityError, ProgrammingError, OperationalError) as err:
        # Processes started at once on a new database all create its tables, and all but one may fail (a type
        # or table that another created a moment before: on PostgreSQL, and on SQLite "table ... already
        # exists"): connect again, and find them made. Any other failure is raised as it is.
        if isinstance(err, OperationalError) and "already exists" not in str(err):
            raise
        time.sleep(1)
        return optuna.storages.RDBStorage(url)
