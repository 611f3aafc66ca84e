"""Imported first by a fork server (named in its preload list): the server ends with its parent.

A multiprocessing fork server is started by the interpreter itself, with no initializer
to call; its preload list is the one place where code of ours runs in it. Importing this
module there makes the server exit when the process that started it is gone (``engine.procs``);
its workers, forked from it, then go too. Nothing else imports this module.
"""

from engine.procs import die_with_parent

die_with_parent()
