"""What a student does in JupyterLab, as playwright calls: open a notebook, run cells, read what the page shows.

Every wait is on the DOM (a prompt number, a dialog, a widget), never a fixed sleep. Selectors are JupyterLab 4's,
ipywidgets 8's and nbgrader 0.9's own class names.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from lab import JupyterLab

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

NEWS_QUESTION = "Would you like to get notified about official Jupyter news?"
WIDGET_ERROR = "Error displaying widget"
# What a failed cell shows: IPython's traceback, or the one-line sentence of a course error (cnnlab.errors).
ERROR_TEXT = re.compile(
    r"Traceback \(most recent call last\)|^(Check failed|This configuration cannot work|Data problem|Error): ",
    re.M,
)


def dismiss_news(page) -> None:
    """Answer JupyterLab's news pop-up with "No" whenever it shows up (it can appear some seconds after a load).

    Answering stores the choice in the test server's own settings, so later pages do not ask again.
    """
    toast = page.locator(".Toastify__toast", has_text=NEWS_QUESTION)
    no = toast.locator("button", has_text=re.compile(r"^No$"))

    def answer(_) -> None:
        try:
            no.click(force=True, timeout=5_000)  # force: the toast is still sliding in
        except Exception:  # gone already, or the page is closing (playwright's Error)
            pass

    page.add_locator_handler(toast, answer, no_wait_after=True)


def screenshot(page, name: str) -> Path:
    """A PNG of the page under tests/browser/artifacts/, for a person to look at (the tests assert on the DOM)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-')}.png"
    page.screenshot(path=str(path))
    return path


def click_menu(page, menu: str, command: str, attempts: int = 3) -> None:
    """Open a main menu and click its entry for a JupyterLab command id (``runmenu:run-all``).

    A pop-up answered meanwhile (the news question) closes an open menu: then the menu is opened again.
    """
    item = page.locator(f'.lm-Menu li[data-command="{command}"]')
    for attempt in range(attempts):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
        try:
            item.wait_for(state="visible", timeout=5_000)
            item.click(timeout=5_000)
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")


class NotebookTab:
    """A notebook opened in its own JupyterLab workspace (so no tab of an earlier test is restored)."""

    def __init__(self, page, lab: JupyterLab, path: str):
        self.page, self.lab, self.path = page, lab, path
        self.workspace = f"test-{uuid.uuid4().hex[:8]}"

    # --- opening ------------------------------------------------------------------------------------------
    def open(self, timeout_s: float = 120) -> NotebookTab:
        self.page.goto(self.lab.url(f"lab/workspaces/{self.workspace}/tree/{self.path}"))
        self.notebook.wait_for(timeout=timeout_s * 1000)
        self.wait_until_idle(timeout_s)
        return self

    @property
    def notebook(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")

    @property
    def toolbar(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar")

    def cell(self, index: int):
        return self.notebook.locator(f'.jp-Cell[data-windowed-list-index="{index}"]')

    @property
    def code_cells(self):
        return self.notebook.locator(".jp-CodeCell")

    # --- running --------------------------------------------------------------------------------------------
    def menu(self, menu: str, command: str) -> None:
        click_menu(self.page, menu, command)

    def select(self, index: int) -> None:
        """Select cell ``index`` as a student does, by clicking left of it (command mode, not editing)."""
        self.cell(index).locator(".jp-InputPrompt").click()

    def prompts(self, last: int | None = None) -> list[str]:
        """The execution prompt of each code cell ('[3]:', '[*]:', '[ ]:'), of cells 0..last if given."""
        texts = []
        for index, cell in enumerate(self.notebook.locator(".jp-Cell").all()):
            if last is not None and index > last:
                break
            if "jp-CodeCell" in (cell.get_attribute("class") or ""):
                texts.append(cell.locator(".jp-InputPrompt").inner_text().strip())
        return texts

    @property
    def kernel_status(self) -> str:
        """The status bar's kernel item: 'CNN Architectures (Python 3) | Idle'."""
        item = self.page.locator('.jp-StatusBar-TextItem[title^="Change kernel"]')
        return item.inner_text().strip() if item.count() else ""

    def wait_until_idle(self, timeout_s: float) -> None:
        """The kernel is idle and has been for a moment (between two queued cells it is briefly idle too)."""
        deadline = time.monotonic() + timeout_s
        calm_since = None
        while time.monotonic() < deadline:
            idle = self.kernel_status.endswith("| Idle")
            if idle and not self.notebook.locator(".jp-InputPrompt", has_text="[*]").count():
                calm_since = calm_since or time.monotonic()
                if time.monotonic() - calm_since > 1.5:
                    return
            else:
                calm_since = None
            time.sleep(0.25)
        raise TimeoutError(
            f"{self.path}: the kernel was not idle after {timeout_s:.0f} s ({self.kernel_status!r})"
        )

    def run_until_done(self, last: int | None, timeout_s: float) -> list[str]:
        """Wait until every code cell up to ``last`` (all if None) shows an execution number; return the prompts."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.wait_until_idle(max(1.0, deadline - time.monotonic()))
            prompts = self.prompts(last)
            if all(re.fullmatch(r"\[\d+\]:", p) for p in prompts) or time.monotonic() > deadline:
                return prompts
            time.sleep(0.5)

    def save(self) -> None:
        self.page.keyboard.press("Control+s")
        dirty = self.page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")
        dirty.wait_for(state="detached", timeout=30_000)

    # --- reading ---------------------------------------------------------------------------------------------
    def error_outputs(self) -> list[str]:
        """The outputs in the page that show an error: a traceback, or a course error's sentence."""
        shown = []
        for output in self.notebook.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all():
            text = output.inner_text()
            if ERROR_TEXT.search(text):
                shown.append(text.strip()[:400])
        return shown

    def widget_errors(self) -> int:
        return self.notebook.get_by_text(WIDGET_ERROR).count()
