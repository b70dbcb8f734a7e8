"""Private grading of the course with otter-grader: see docs/grading.md."""
