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
    # a unit's power, a parenthetical after the answer, a check after it, numbers in words
    ("The area of the square is 25 m^2.", 25),
    ("Each wall is 12 ft**2, so the answer is 48 ft^{2}", 48),
    ("The answer is 18 (if x = 3 for each box).", 18),
    ("Final answer: 7 (with n = 2 people)", 7),
    ("The answer is 12. Let me verify: 3 * 4 = 12, and 12 + 8 = 20 apples before.", 12),
    ("So Tom has 35 marbles.\nVerification: 50 - 15 = 35. Also 15 / 5 = 3 per bag.", 35),
    ("The answer is twelve.", 12),
    ("She bought three dozen eggs, so the answer is thirty-six.", 36),
    ("The answer is a hundred and five", 105),
]

CHOICE_OPTIONS = {"A": "12", "B": "15", "C": "125", "D": "a number near 20"}
CHOICE_CASES: list[tuple[str, str | None]] = [
    ("The answer is a number I computed: (B)", "B"),
    ("The answer is (c).", "C"),
    ("Answer: B", "B"),
    ("I get 125 in total.", "C"),
    ("So the count is 15.", "B"),
    ("The answer is a tricky one, but 12 fits.", "A"),
    # a reply that changes its mind
    ("The answer is A. Wait, actually, it's C.", "C"),
    ("Answer: B. Hmm, on second thought, C is correct.", "C"),
    ("The answer is (A). Actually no, I made an error; the correct choice should be D.", "D"),
    ("The answer is B. No wait, it's A.", "A"),
]
