"""The project's own PostgreSQL + PostGIS cluster, in a data folder of its own.

``wangge db up`` runs :meth:`LocalCluster.up`: it finds the system's PostgreSQL binaries, creates
the cluster (``initdb``) on first use, starts it (``pg_ctl``) on a free loopback port, creates the
database and the ``postgis`` extension, and returns the URL. ``up`` twice is harmless; a stale
``postmaster.pid`` left by a crash is recovered.

initdb and pg_ctl refuse to run as root. When Wangge runs as root, the cluster is run by an
unprivileged OS user (setting ``pg_os_user``, default ``postgres``; created when missing) who owns
the data folder. If that user cannot reach the configured folder (a checkout under ``/root`` is
mode 700), the cluster is placed under ``/var/lib/wangge/`` and the configured path becomes a
symbolic link to it, so that the folder is still the project's own.

Connections use TCP on 127.0.0.1 only, with generated passwords (SCRAM) kept in
``cluster.json`` (mode 600) beside the data folder.

Three roles, each with its own password (least privilege):

* ``wangge`` (:data:`SUPERUSER`), the cluster's own superuser made by initdb: only this module
  uses it, to create the database, the roles and the extensions;
* ``wangge_owner`` (:data:`OWNER`) owns the database and its schema and runs the migrations
  (``WANGGE_ADMIN_DATABASE_URL``);
* ``wangge_app`` (:data:`APP`), what the API, the jobs and the commands connect as
  (``WANGGE_DATABASE_URL``): not a superuser, no CREATE on the schema or the database (so no
  DDL, no ``CREATE EXTENSION``, no ``COPY … TO PROGRAM``), reads and writes the data tables, may
  create TEMP tables.

Commits are durable: ``synchronous_commit = on``. Clusters made by older versions (superuser
only, ``synchronous_commit = off``, which lost commits already acknowledged when PostgreSQL
crashed) are brought to both at every :meth:`LocalCluster.up`.

The modules: :mod:`~geo.store.pgcluster.server` (the lifecycle: :class:`LocalCluster`),
:mod:`~geo.store.pgcluster.folder` (the folder, its state, passwords and URLs, commands as the
cluster's OS user), :mod:`~geo.store.pgcluster.roles` (the three roles and their privileges),
:mod:`~geo.store.pgcluster.durability` (``synchronous_commit``),
:mod:`~geo.store.pgcluster.binaries` (finding ``initdb`` and ``pg_ctl``).
"""

from __future__ import annotations

from geo.store.pgcluster.binaries import find_pg_bindir
from geo.store.pgcluster.roles import APP, OWNER, ROLES, SUPERUSER
from geo.store.pgcluster.server import ClusterStatus, LocalCluster

__all__ = ["APP", "OWNER", "ROLES", "SUPERUSER", "ClusterStatus", "LocalCluster", "find_pg_bindir"]
