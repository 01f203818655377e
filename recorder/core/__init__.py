"""The sans-I/O core: frames, sequencing, the MID tracker, orders, books and the projector.

Nothing here touches sockets, threads, clocks or databases: time is an argument and decisions
come back as values (effects) that the I/O layers carry out.
"""
