"""Datasets for the course: the generated shapes dataset, a reader for a local copy of CIFAR-10, and
show_examples, a grid of images per class.

    from cnnlab.data import load_course_data
    data = load_course_data()      # builds data/course-shapes-v1.npz once (about 10 s of one core), then loads it

Nothing is ever downloaded. On the command line: ``python -m cnnlab.data build | verify | info``.
"""

from .cifar import load_cifar10
from .course import build_course_data, data_root, load_course_data
from .images import ImageData
from .preview import show_examples
from .shapes import COURSE_CLASSES

__all__ = [
    "COURSE_CLASSES",
    "ImageData",
    "build_course_data",
    "data_root",
    "load_cifar10",
    "load_course_data",
    "show_examples",
]
