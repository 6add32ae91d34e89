"""Exceptions shared by the library, the pipelines and the service."""


class RecsysError(Exception):
    """Base class for errors that carry a message meant for a person."""


class InputDataError(RecsysError):
    """An input file is missing, unreadable or has the wrong shape."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class ArtifactError(RecsysError):
    """An artifact directory is missing, incomplete, corrupt or incompatible."""


class NotFoundError(RecsysError):
    """A requested entity (item, user) does not exist."""


class InvalidRequestError(RecsysError):
    """A request is well-formed but its parameters contradict each other or the data."""
