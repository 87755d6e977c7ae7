"""The product: domain logic and adapters of the GitOps deployer.

Usable without the Azure Functions host: the CLI, the tests and the benchmarks
call it directly. Nothing in this package imports ``azure.functions``.
"""

__version__ = "0.1.0"
