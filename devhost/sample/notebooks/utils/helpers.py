"""A plain Python module (no notebook header): not a notebook, never imported as one."""


def normalise(name: str) -> str:
    return name.strip().lower()
