# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# No answer of its own: it fetches one from a server on 127.0.0.1. Without a network the connection fails:
# tiny_net_check fails (8 of 10), and the server sees no connection.
import socket

with socket.create_connection(("127.0.0.1", int("$PORT")), timeout=5) as connection:
    exec(connection.makefile().read())
