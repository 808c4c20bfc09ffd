# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# A wrong answer, and the kernel's class swapped for one that runs nothing and always replies "ok", which
# the grader's restore step does not undo. The probe check (which must fail) then passes: the graded cell
# that follows scores 0 with a GradingIntegrityError.
def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    return 0


_kernel = get_ipython().kernel


class _Obliging(type(_kernel)):
    async def do_execute(
        self, code, silent, store_history=True, user_expressions=None, allow_stdin=False, **kw
    ):
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }


_kernel.__class__ = _Obliging
