"""Replies as models write them, with the number each one states: the test and benchmark cases of
answer extraction (``benchmarks/extraction.py`` scores extractors on them)."""

NUMBER_CASES: list[tuple[str, float | None]] = [
    ("The answer is 42.", 42),
    ("so the answer is: 1,234 apples", 1234),
    ("First 3 + 4 = 7, then 7 * 2 = 14", 14),
    ("The answer is $5.50", 5.5),
    ("The answer is -3", -3),
    ("I think 12. The answer is 15. Checking: 15 is right", 15),
    ("no number here", None),
    (r"So the result is \boxed{\frac{3}{4}}.", 0.75),
    (r"The total is $1{,}024$ bytes, so \boxed{1{,}024}", 1024),
    (r"\boxed{\dfrac{5}{2}}", 2.5),
    (r"Therefore \boxed{\text{18}} eggs.", 18),
    ("The temperature drops to \u22125 degrees, so the answer is \u22125.", -5),
    ("**Final Answer**: 48", 48),
    ("**Final Answer:** 48 cookies in total", 48),
    ("Final answer: 17", 17),
    ("The answer is approximately 3.14.", 3.14),
    ("The answer is about 250 meters", 250),
    ("The answer is 4 + 3 = 7.", 7),
    ("So the answer is 12 * 3 = 36 apples", 36),
    ("She has 2 1/2 pies left. The answer is 2 1/2.", 2.5),
    ("The answer is .75", 0.75),
    ("#### 72", 72),
    ("Natalia sold 48/2 = 24 clips in May.\n#### 72", 72),
    ("The answer is 7. Note: I used 3 steps.", 7),
    ("Each box has 6 eggs, 4 boxes make 24 eggs.", 24),
]

CHOICE_OPTIONS = {"A": "12", "B": "15", "C": "125", "D": "a number near 20"}
CHOICE_CASES: list[tuple[str, str | None]] = [
    ("The answer is a number I computed: (B)", "B"),
    ("The answer is (c).", "C"),
    ("Answer: B", "B"),
    ("I get 125 in total.", "C"),
    ("So the count is 15.", "B"),
    ("The answer is a tricky one, but 12 fits.", "A"),
]
