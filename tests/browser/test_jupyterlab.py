"""The course in a real browser: JupyterLab on a copy of the course, driven by Debian's Chromium through playwright.

The student's path, end to end: notebook 03's explorer renders (which it does only when jupyterlab_widgets matches
ipywidgets), follows its CONV1 stride slider to the right shape and MACs, and names the layer of an impossible
configuration; nbgrader's Validate passes a completed notebook and fails an untouched one; the Formgrader lists the
submissions of a graded assignment. Then every solution notebook runs top to bottom in the page, its training runs at
a tiny budget (tiny_budget.py), with no error and no broken widget. Each step leaves a screenshot in
tests/browser/artifacts/ (ignored by git); the assertions read the DOM, never pixels.

Expected values come from the solution's own builder through cnnlab.summarize, never typed in. The server and the
browser stop at the end, pass or fail, and the last test checks that no process of theirs is left.
"""

from __future__ import annotations

import ast
import concurrent.futures
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import torch
from course import (
    LECTURES,
    SOLUTIONS,
    Course,
    assignment_ids,
    gradebook_grades,
    notebooks_of,
    perfect_submission,
    solution_code,
)
from lab import CHROMIUM, KERNEL_DISPLAY_NAME, KERNEL_NAME, Chromium, JupyterLab, leftover_processes
from pages import NotebookTab, click_menu, dismiss_news, screenshot
from playwright.sync_api import expect
from tiny_budget import with_tiny_budget

from cnnlab import fmt, summarize
from cnnlab.errors import ConfigError

pytestmark = pytest.mark.slow

EXPLORER_NOTEBOOK = "03_zfnet/zfnet.ipynb"
EXPLORER_BUILDER = (
    "AlexNetFamily"  # the class notebook 03's explorer explores, defined by its "family_class" cell
)
STRIDE_CONTROL = "conv1_stride"
STRIDE_MOVE = ("ArrowLeft", 2)  # from AlexNet's stride 4 to 2, two steps of the slider
# A configuration that cannot work, set with the ends of three sliders (checked below to be refused by the builder).
IMPOSSIBLE = {"conv1_stride": "End", "conv2_stride": "End", "input_size": "Home"}
GRADED_ASSIGNMENT = "00_foundations"  # quick: validated and autograded here
SOLUTION_NOTEBOOKS = [f"{a}/{nb.name}" for a in assignment_ids() for nb in notebooks_of(a)]
LAYER_NAME = re.compile(r"^(CONV|POOL|NORM|FC)\d")
# Notebook 06's live diagram: its explorer, the cells that define what it explores, and a stage slider
DIAGRAM_NOTEBOOK = "06_resnet/resnet.ipynb"
DIAGRAM_CELLS = ("basic_block", "bottleneck_block", "resnet_builder", "explorer_build")
STAGE_CONTROL = "stage3"  # ResNet-50's 6 blocks, drawn as stages.stage3: its first block and one box ×5
# Notebook 06's explorer cannot refuse a setting (an adaptive pool takes any map), so the test adds one cell below it:
# the same ResNet with the 2015 paper's fixed 7×7 average pool, which a 192×192 input leaves a 6×6 map.
FIXED_POOL_CELL = """\
def resnet_fixed_pool(stage4=3, input_size=224):
    net = resnet_family(stage4=stage4)
    net.head[0] = nn.AvgPool2d(7)
    return net


explore(resnet_fixed_pool, input_shape=(3, 224, 224), stage4=(1, 8), input_size=(64, 320, 32))"""


# --- the course copy, the server, the browser ---------------------------------------------------------------


class GradedCourse(Course):
    """A throwaway nbgrader course (tests/course.py) whose nbgrader runs see the test server's kernels."""

    environment: dict[str, str] = {}  # the server's, set once it is up
    nbgrader_flags = ("--log-level=WARN",)
    nbgrader_timeout_s = 600

    def nbgrader_env(self) -> dict[str, str]:
        return self.environment


def grade_a_class(course: GradedCourse) -> None:
    """The Formgrader's data: two submissions of GRADED_ASSIGNMENT, autograded (at a tiny training budget)."""
    release = course.generate(GRADED_ASSIGNMENT)
    sources = notebooks_of(GRADED_ASSIGNMENT)
    perfect = {nb.name: with_tiny_budget(perfect_submission(release / nb.name, nb)) for nb in sources}
    blank = {nb.name: with_tiny_budget(nbformat.read(release / nb.name, as_version=4)) for nb in sources}
    course.submit("perfect", GRADED_ASSIGNMENT, perfect)
    course.submit("blank", GRADED_ASSIGNMENT, blank)
    course.autograde(GRADED_ASSIGNMENT)


def as_course_kernel(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
    }
    return nb


def write_student_notebooks(root: Path) -> None:
    """What students have: lectures/ as released, completed from solutions/ where a test needs it."""
    assignment, name = EXPLORER_NOTEBOOK.split("/")
    filled = perfect_submission(LECTURES / assignment / name, SOLUTIONS / assignment / name)
    (root / "student" / assignment).mkdir(parents=True)
    nbformat.write(as_course_kernel(filled), root / "student" / assignment / name)
    assignment, name = DIAGRAM_NOTEBOOK.split("/")
    filled = perfect_submission(LECTURES / assignment / name, SOLUTIONS / assignment / name)
    explorer_at = next(i for i, c in enumerate(filled.cells) if is_explorer_cell(c))
    filled.cells.insert(explorer_at + 1, nbformat.v4.new_code_cell(FIXED_POOL_CELL))
    (root / "student" / assignment).mkdir(parents=True)
    nbformat.write(as_course_kernel(filled), root / "student" / assignment / name)
    for nb in notebooks_of(GRADED_ASSIGNMENT, LECTURES):
        completed = perfect_submission(nb, SOLUTIONS / GRADED_ASSIGNMENT / nb.name)
        for state, notebook in [("completed", completed), ("untouched", nbformat.read(nb, as_version=4))]:
            folder = root / "student" / GRADED_ASSIGNMENT / state
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(with_tiny_budget(notebook), folder / nb.name)
    for path in SOLUTION_NOTEBOOKS:  # each solution folder as it is, its notebooks at a tiny training budget
        assignment, name = path.split("/")
        folder = root / "run" / assignment
        if not folder.exists():
            shutil.copytree(SOLUTIONS / assignment, folder)
        nbformat.write(with_tiny_budget(nbformat.read(folder / name, as_version=4)), folder / name)


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/deps/chromium.sh installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is missing: pip install -e '.[dev]'")
    browser = Chromium()
    try:
        browser.start()
    except Exception as error:
        browser.stop()
        pytest.skip(f"Chromium cannot start on this machine: {str(error).strip().splitlines()[0]}")
    try:
        yield browser
    finally:
        browser.stop()


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    """JupyterLab on a copy of the course; a class of GRADED_ASSIGNMENT is autograded meanwhile, in a thread."""
    root = tmp_path_factory.mktemp("course")
    server = JupyterLab(root, tmp_path_factory.mktemp("jupyter-home"))
    course = GradedCourse(root)
    course.environment = server.environment()
    write_student_notebooks(root)
    grading = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    server.graded = grading.submit(grade_a_class, course)
    try:
        server.start()
        yield server
    finally:
        grading.shutdown(wait=True)  # nbgrader's own timeouts bound this
        server.stop()


@pytest.fixture
def page(lab, chromium, request):
    """A fresh browser page; afterwards a screenshot of its last state is kept and its kernels are shut down."""
    page = chromium.new_page()
    dismiss_news(page)
    try:
        yield page
    finally:
        try:
            screenshot(page, f"last-{request.node.name}")
        except Exception:  # a page that crashed has nothing to show
            pass
        try:
            page.context.close()
        except Exception:  # a browser that died: Chromium.stop() ends its processes
            pass
        for session in lab.api("GET", "api/sessions") or []:
            lab.api("DELETE", f"api/sessions/{session['id']}")


def explorer_builder():
    return solution_code(EXPLORER_NOTEBOOK, "family_class")[EXPLORER_BUILDER]


def explorer_summary(build, **config):
    """What the explorer should show for ``config`` (the builder's defaults elsewhere), computed here."""
    with torch.device("meta"):
        model = build(**config)
    size = config.get("input_size", 227)
    return summarize(model, (3, size, size))


def slider(cell, name: str):
    label = cell.page.locator(".widget-label", has_text=re.compile(f"^{name}$"))
    return cell.locator(".widget-slider", has=label)


def is_explorer_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith("explore(")


def slider_ranges(source: str) -> dict[str, tuple[int, int]]:
    """{control: (low, high)} of the integer ranges an ``explore(...)`` cell gives, read from its code."""
    call = ast.parse(source).body[-1].value
    ranges = {}
    for keyword in call.keywords:
        value = keyword.value
        if isinstance(value, ast.Tuple) and all(isinstance(e, ast.Constant) for e in value.elts):
            numbers = [e.value for e in value.elts]
            if all(isinstance(n, int) for n in numbers) and len(numbers) in (2, 3):
                ranges[keyword.arg] = (numbers[0], numbers[1])
    return ranges


def run_cells(tab: NotebookTab, indices: list[int], timeout_s: float = 180) -> None:
    """Run the given cells one by one, as a student does with Shift+Enter, each after the one before is done."""
    for index in indices:
        tab.select(index)
        tab.menu("Run", "notebook:run-cell")
        prompt = tab.cell(index).locator(".jp-InputPrompt")
        expect(prompt).to_have_text(re.compile(r"^\[\d+\]:$"), timeout=timeout_s * 1000)


# --- the student's path ---------------------------------------------------------------------------------------


def test_explorer_renders_follows_the_stride_slider_and_names_the_failing_layer(lab, page):
    build = explorer_builder()
    nb = nbformat.read(lab.root / "student" / EXPLORER_NOTEBOOK, as_version=4)
    explorer_index = next(
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.source.lstrip().startswith("explore(")
    )
    tab = NotebookTab(page, lab, f"student/{EXPLORER_NOTEBOOK}").open()
    assert tab.kernel_status == f"{KERNEL_DISPLAY_NAME} | Idle", "the course's kernel did not start"

    # 1. Run the cells up to the explorer, then the explorer: it renders as widgets, not as a static copy.
    tab.select(explorer_index)
    tab.menu("Run", "notebook:run-all-above")
    prompts = tab.run_until_done(explorer_index - 1, timeout_s=180)
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), (
        f"cells above the explorer did not all run: {prompts}"
    )
    tab.select(explorer_index)
    tab.menu("Run", "notebook:run-cell")
    cell = tab.cell(explorer_index)
    stride = slider(cell, STRIDE_CONTROL)
    stride.wait_for(timeout=60_000)
    table = cell.locator(".cnnlab-summary")
    table.wait_for()
    screenshot(page, "1-explorer")
    assert tab.widget_errors() == 0
    assert (
        cell.locator(".widget-slider").count() >= 5 and stride.locator(".widget-readout").inner_text() == "4"
    )
    baseline = explorer_summary(build)
    conv1_output = table.locator("tbody tr").first.locator("td").nth(3)
    assert conv1_output.inner_text() == fmt.shape(baseline.rows[0].output_shape)

    # 2. Move CONV1's stride slider with the keyboard, as a student can: shape and MACs follow. The page updates
    # on its own time, so every read of it after the key presses is a waiting assertion, never an immediate read.
    key, presses = STRIDE_MOVE
    moved = explorer_summary(build, conv1_stride=4 - presses)
    expected_shape = fmt.shape(moved.rows[0].output_shape)
    expected_macs = f"{moved.total_macs:,} MACs"
    # the move must change what is checked: against the baseline computed here, not the live page
    assert (
        expected_shape != fmt.shape(baseline.rows[0].output_shape) and moved.total_macs != baseline.total_macs
    )
    stride.locator(".noUi-handle").focus()
    for _ in range(presses):
        page.keyboard.press(key)
    expect(stride.locator(".widget-readout")).to_have_text(str(4 - presses))
    expect(conv1_output).to_have_text(expected_shape)
    total_row_macs = table.locator("tr.total td").nth(5)
    expect(total_row_macs).to_have_text(fmt.count(moved.total_macs))
    expect(cell).to_contain_text(expected_macs)  # the headline under the table
    screenshot(page, "2-conv1-stride")

    # 3. An impossible configuration: a sentence that names the layer, from the student's own builder.
    ranges = slider_ranges(nb.cells[explorer_index].source)
    config = {}
    for name, key in IMPOSSIBLE.items():
        control = slider(cell, name)
        control.locator(".noUi-handle").focus()
        page.keyboard.press(key)
        config[name] = ranges[name][1] if key == "End" else ranges[name][0]
        expect(control.locator(".widget-readout")).to_have_text(str(config[name]))
    with pytest.raises(ConfigError) as refusal:
        explorer_summary(build, **config)
    message = str(refusal.value)
    assert LAYER_NAME.match(message), f"the builder's refusal does not start with a layer's name: {message}"
    # the refusal's own line, not any text on the page (the diagram may draw the same sentence, wrapped); a waiting
    # assertion, which says what the line held instead when it times out
    expect(cell.locator(".cnnlab-refusal")).to_contain_text(message, timeout=60_000)
    screenshot(page, "3-impossible-configuration")
    assert ConfigError.title in cell.inner_text()
    assert tab.widget_errors() == 0


def test_notebook_06_explorer_draws_its_diagram_follows_a_stage_slider_and_marks_a_refused_layer(lab, page):
    namespace = solution_code(DIAGRAM_NOTEBOOK, *DIAGRAM_CELLS)
    nb = nbformat.read(lab.root / "student" / DIAGRAM_NOTEBOOK, as_version=4)
    grade_ids = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
    imports = next(
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "setup_notebook(" in c.source
    )
    explorer_index = next(i for i, c in enumerate(nb.cells) if is_explorer_cell(c))
    tab = NotebookTab(page, lab, f"student/{DIAGRAM_NOTEBOOK}").open()
    run_cells(tab, [imports, *(grade_ids[g] for g in DIAGRAM_CELLS), explorer_index])

    # 1. The diagram is drawn in the explorer's output: ResNet-50's four stages, the third 6 blocks (1 + ×5).
    cell = tab.cell(explorer_index)
    diagram = cell.locator(".cnnlab-live-diagram svg.cnnlab-diagram")
    expect(diagram).to_be_visible(timeout=60_000)
    stage3 = diagram.locator('g.box[data-name="stages.stage3"]')
    expect(stage3).to_have_attribute("data-blocks", "6")
    expect(diagram.locator('g.box[data-name="stages.8"]')).to_have_attribute("data-repeat", "5")
    expect(diagram.locator('g.box[data-name^="stages.stage"]')).to_have_count(4)
    expect(diagram.locator("g.node.changed")).to_have_count(0)  # the baseline: nothing changed yet
    assert tab.widget_errors() == 0
    screenshot(page, "6-resnet-diagram")

    # 2. One more block in stage 3: its ×N, its box and the totals follow; stage 1 is unchanged.
    control = slider(cell, STAGE_CONTROL)
    control.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")
    expect(control.locator(".widget-readout")).to_have_text("7")
    with torch.device("meta"):
        moved = summarize(namespace["resnet_family"](stage3=7), (3, 224, 224))
    expect(diagram.locator('g.box[data-name="stages.8"]')).to_have_attribute("data-repeat", "6")
    expect(stage3).to_have_attribute("data-blocks", "7")
    expect(diagram).to_contain_text(f"{moved.total_params:,} params · {fmt.count(moved.total_macs)} MACs")
    expect(cell.locator(".cnnlab-summary")).to_contain_text(f"{moved.total_params:,}")
    expect(diagram.locator('g.box[data-name="stages.8"] rect')).to_have_attribute("stroke", "#1c7ed6")
    assert diagram.locator('g.node.changed[data-name^="stages.0."]').count() == 0
    screenshot(page, "7-resnet-diagram-stage3")

    # 3. A refused setting: the layer that fails is outlined, with summarize's sentence under the diagram.
    fixed_index = explorer_index + 1
    run_cells(tab, [fixed_index])
    fixed = tab.cell(fixed_index)
    drawn = fixed.locator(".cnnlab-live-diagram svg.cnnlab-diagram")
    expect(drawn).to_be_visible(timeout=60_000)
    size = slider(fixed, "input_size")
    size.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowLeft")
    expect(size.locator(".widget-readout")).to_have_text("192")
    net = namespace["resnet_family"]()
    net.head[0] = torch.nn.AvgPool2d(7)
    with pytest.raises(ConfigError) as refusal:
        summarize(net.to("meta"), (3, 192, 192))
    message = str(refusal.value)
    assert message.startswith("layer 'head.0'"), message
    failed = drawn.locator("g.node.failed")
    expect(failed).to_have_attribute("data-name", "head.0")
    expect(drawn.locator("text.refusal").first).to_contain_text(message.split()[0])
    # the explorer's own line, the same sentence
    expect(fixed.locator(".cnnlab-refusal")).to_contain_text(message)
    screenshot(page, "8-resnet-diagram-refused")
    assert tab.widget_errors() == 0


# The button runs nbgrader's Validator with the nbgrader_config.py of the server's folder, as `nbgrader validate` does:
# tests/test_nbgrader_validate.py runs that path on a cell stopped at the time limit, which must fail Validate.
def test_validate_passes_a_completed_notebook_and_fails_an_untouched_one(lab, page):
    for state, dialog in [("completed", ".nbgrader-SuccessDialog"), ("untouched", ".nbgrader-ErrorDialog")]:
        name = notebooks_of(GRADED_ASSIGNMENT, LECTURES)[0].name
        tab = NotebookTab(page, lab, f"student/{GRADED_ASSIGNMENT}/{state}/{name}").open()
        tab.toolbar.locator("jp-button.validate-button").click()
        shown = page.locator(dialog)
        shown.wait_for(timeout=240_000)
        screenshot(page, f"4-validate-{state}")
        text = shown.inner_text()
        if state == "completed":
            assert "Success! Your notebook passes all the tests." in text
            assert page.locator(".nbgrader-ErrorDialog").count() == 0
        else:
            assert "Validation failed" in text or shown.locator(".validation-failed").count() == 1, text
            assert "NotImplementedError" in text, text
        shown.locator("button.jp-Dialog-button").first.click()
        shown.wait_for(state="detached")


def test_formgrader_lists_the_graded_submissions(lab, page):
    lab.graded.result(timeout=600)  # the class autograded in the background since the server started
    tab = NotebookTab(page, lab, f"student/{EXPLORER_NOTEBOOK}")
    page.goto(lab.url(f"lab/workspaces/{tab.workspace}"))
    click_menu(page, "Nbgrader", "nbgrader:open-formgrader")
    frame = page.frame_locator("iframe")
    row = frame.locator("tr", has=page.locator("td", has_text=re.compile(f"^{GRADED_ASSIGNMENT}$")))
    row.locator("td.num-submissions a").click()
    students = frame.locator("td.student-id")
    students.first.wait_for()
    screenshot(page, "5-formgrader")
    listed = {text.strip() for text in students.all_inner_texts()}
    assert listed == {"perfect", "blank"}
    scores = {}
    for student in listed:  # each row as the gradebook has it: autograded, with its score
        grades = gradebook_grades(lab.root / "gradebook.db", GRADED_ASSIGNMENT, student)
        score = sum(score or 0 for score, _, _ in grades.values())
        top = sum(top for _, top, _ in grades.values())
        manual = any(needs_manual for _, _, needs_manual in grades.values())
        row = frame.locator("tr", has=frame.locator("td.student-id", has_text=re.compile(f"^{student}$")))
        cells = [text.strip() for text in row.locator("td").all_inner_texts()]
        assert ("needs manual grading" if manual else "graded") in cells, cells
        assert f"{score:g} / {top:g}" in cells, cells
        scores[student] = score
    assert scores["blank"] == 0 < scores["perfect"]


# --- every solution notebook, top to bottom -----------------------------------------------------------------


@pytest.mark.parametrize("notebook", SOLUTION_NOTEBOOKS)
def test_solution_notebook_runs_in_the_browser_without_errors(lab, page, notebook):
    tab = NotebookTab(page, lab, f"run/{notebook}").open()
    tab.menu("Run", "runmenu:run-all")
    prompts = tab.run_until_done(None, timeout_s=300)
    screenshot(page, f"run-{notebook}")
    tab.save()
    saved = lab.saved_notebook(f"run/{notebook}")
    errors = [
        f"cell {i}: {out['ename']}: {out['evalue']}"
        for i, cell in enumerate(saved["cells"])
        for out in cell.get("outputs", [])
        if out["output_type"] == "error"
    ]
    assert errors == [], f"{notebook} raised in the browser: {errors}"
    assert tab.error_outputs() == []
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), f"{notebook}: not every cell ran: {prompts}"
    assert tab.widget_errors() == 0, (
        f"{notebook}: a widget shows {tab.widget_errors()}× 'Error displaying widget'"
    )


# --- leaving nothing behind --------------------------------------------------------------------------------------


def test_server_and_browser_stop_and_leave_no_process_behind(lab, chromium):
    concurrent.futures.wait([lab.graded])
    assert leftover_processes(), "the server and the browser should be running until now"
    chromium.stop()
    lab.stop()
    assert leftover_processes() == []
