"""Local development tooling: the Functions development host, Azurite and the local stack.

Not part of the product package (``shared/``); used by ``make run``, the tests
and the benchmarks on machines without Azure Functions Core Tools.
"""
