"""How hard a request is, and what kind of work it asks for: read from the prompt, in rules.

A deterministic classifier (no model, no network, no download): regular expressions over the
last user turn, the system prompt's head, the tools offered and the conversation's length, in
English and Chinese. Four tiers, as LiteLLM's complexity router and the papers it follows name
them: simple, medium, complex, reasoning. The tier sets a quality floor (strategies/floor.py);
the kind keys what the router learns from feedback (strategies/learned_quality.py).

Written here rather than reused from LiteLLM's `complexity_router`: that one is about 9,000
lines tied to LiteLLM's config classes (which change between releases), scores English keywords
only, and the pure core may not import LiteLLM.

Bounded: at most HEAD_CHARS + TAIL_CHARS of the user turn are scanned (a question usually sits
before or after what was pasted), and SYSTEM_CHARS of the system prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

# The names as types (settings validate rule conditions and floors against them) and as tuples.
Tier = Literal["simple", "medium", "complex", "reasoning"]
Kind = Literal[
    "chat",
    "lookup",
    "writing",
    "rewrite",
    "translation",
    "extraction",
    "code",
    "debugging",
    "math",
    "analysis",
]
TIERS: tuple[str, ...] = get_args(Tier)
KINDS: tuple[str, ...] = get_args(Kind)
HEAD_CHARS = 1_500
TAIL_CHARS = 700
SYSTEM_CHARS = 1_500


@dataclass(frozen=True, slots=True)
class PromptView:
    """What the classifier reads of one request (built by the integration from any wire shape)."""

    user: str  # the last user turn's text
    system: str = ""
    turns: int = 1  # messages in the conversation, the last one included
    tools: int = 0  # tools offered
    thinking: bool = False  # the client asked for extended thinking / reasoning effort


@dataclass(frozen=True, slots=True)
class Difficulty:
    tier: str
    kind: str
    score: float  # the weighted sum the tier boundaries cut
    signals: tuple[tuple[str, float], ...]  # the signals that fired, with their contribution

    def as_dict(self) -> dict[str, object]:
        return {
            "tier": self.tier,
            "kind": self.kind,
            "score": round(self.score, 3),
            "signals": dict(self.signals),
        }


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Markers of one signal: whole English words, English phrases (matched in the lower-cased
    text), Chinese phrases. One tokenisation of the text, then set intersections and substring
    tests: regular-expression alternations over the same lists were ~100x slower."""

    words: frozenset[str] = frozenset()
    phrases: tuple[str, ...] = ()
    zh: tuple[str, ...] = ()

    def hits(self, words: set[str], found: set[str]) -> int:
        """`found`: every phrase (English or Chinese) of every lexicon present in the text."""
        return (
            len(words & self.words) + len(found.intersection(self.phrases)) + len(found.intersection(self.zh))
        )


def _forms(*stems: str) -> frozenset[str]:
    """`"implement|s|ed|ing|ation"`: the stem and the stem + each ending."""
    forms: set[str] = set()
    for stem in stems:
        root, *endings = stem.split("|")
        forms.add(root)
        forms.update(root + e for e in endings)
    return frozenset(forms)


PROOF = Lexicon(
    _forms(
        "prove|s|d|n",
        "proof|s",
        "derive|s|d",
        "derivation",
        "theorem|s",
        "lemma|s",
        "iff",
        "rigorous|ly",
        "contradiction",
        "qed",
    ),
    (" show that", "by induction", "if and only if", "prove that", "证明"),
    ("证明", "求证", "推导", "定理", "引理", "归纳法", "反证", "当且仅当", "严格"),
)
REASONING = Lexicon(
    _forms(
        "puzzle|s",
        "riddle|s",
        "probability",
        "probabilities",
        "complexity",
        "minimize",
        "minimise",
        "maximize",
        "maximise",
        "integral|s",
        "derivative|s",
        "inequality",
        "eigenvalue|s",
        "eigenvector|s",
        "recurrence",
        "invariant|s",
        "deduce",
        "deduction",
        "counterexample",
        "combinatorics",
        "combinatorial",
        "asymptotic|ally",
        "optimal|ity",
        "paradox",
        "bayes",
        "bayesian",
        "conditional",
    ),
    (
        "step by step",
        "step-by-step",
        "think carefully",
        "think through",
        "think hard",
        "how many ways",
        "how many distinct",
        "how many different",
        "expected value",
        "expected number",
        "worst case",
        "worst-case",
        "game theory",
        "nash equilibrium",
        "limit of",
        "big-o",
        "big o",
        "o(n",
    ),
    (
        "一步一步",
        "一步步",
        "逐步",
        "仔细思考",
        "推理",
        "谜题",
        "逻辑题",
        "多少种",
        "概率",
        "期望",
        "最优",
        "最坏",
        "复杂度",
        "积分",
        "导数",
        "极限",
        "不等式",
        "特征值",
        "递推",
        "博弈",
        "不变量",
        "反例",
        "悖论",
        "贝叶斯",
    ),
)
MATH = Lexicon(
    _forms(
        "solve",
        "equation|s",
        "calculate",
        "compute",
        "percent|age",
        "prime|s",
        "matrix",
        "matrices",
        "polynomial|s",
        "integer|s",
        "divisible",
        "geometry",
        "triangle|s",
        "statistic|s|al",
        "sqrt",
        "modulo",
        "mod",
        "factorial",
        "fibonacci",
        "algebra",
        "calculus",
        "vector|s",
        "radius",
        "area",
        "volume",
        "interest",
        "average",
        "mean",
        "median",
        "variance",
        "logarithm",
        "log",
        "exponent",
        "sum",
        "product",
        "fraction|s",
        "ratio",
    ),
    ("sum of", "how much is", "what is the value", "square root"),
    (
        "解方程",
        "方程",
        "计算",
        "求和",
        "之和",
        "百分之",
        "百分比",
        "素数",
        "质数",
        "矩阵",
        "多项式",
        "整数",
        "整除",
        "三角形",
        "几何",
        "统计",
        "平方根",
        "阶乘",
        "斐波那契",
        "面积",
        "体积",
        "利息",
        "平均",
        "方差",
        "对数",
        "分数",
        "比例",
        "等于多少",
        "是多少",
    ),
)
CODE_WORDS = Lexicon(
    _forms(
        "code",
        "function|s",
        "class|es",
        "method|s",
        "script|s",
        "regex",
        "sql",
        "query",
        "api|s",
        "endpoint|s",
        "compile|r|s|d",
        "implement|s|ed|ing|ation",
        "refactor|s|ing|ed",
        "test|s",
        "python",
        "javascript",
        "js",
        "typescript",
        "ts",
        "rust",
        "golang",
        "java",
        "bash",
        "shell",
        "docker",
        "dockerfile",
        "kubernetes",
        "k8s",
        "react",
        "vue",
        "cli",
        "json",
        "yaml",
        "git",
        "npm",
        "pip",
        "async",
        "await",
        "thread|s",
        "mutex",
        "lambda",
        "variable|s",
        "array|s",
        "struct",
        "interface",
        "module|s",
        "library",
        "framework",
        "database",
        "schema",
        "migration",
        "linter",
        "repo",
        "repository",
        "pr",
        "commit",
        "deploy|ment",
        "backend",
        "frontend",
        "server",
        "http",
        "websocket",
        "cache",
        "lru",
        "ttl",
        "algorithm|s",
        "recursion",
        "recursive",
        "binary",
        "leetcode",
        "html",
        "css",
        "sdk",
        "orm",
        "django",
        "flask",
        "fastapi",
        "spring",
        "node",
        "golang",
        "c++",
        "cpp",
        "kotlin",
        "swift",
        "php",
        "ruby",
        "scala",
        "haskell",
        "pandas",
        "numpy",
        "pytorch",
        "tensorflow",
    ),
    ("unit test", "pull request", "c++", "c#", ".py", ".js", ".ts", "()"),
    (
        "代码",
        "函数",
        "脚本",
        "正则",
        "接口",
        "编译",
        "实现",
        "重构",
        "单元测试",
        "测试用例",
        "组件",
        "数据库",
        "部署",
        "算法",
        "递归",
        "前端",
        "后端",
        "服务器",
        "缓存",
        "线程",
        "异步",
        "变量",
        "数组",
        "类型",
        "仓库",
        "框架",
        "页面",
        "爬虫",
    ),
)
DEBUGGING = Lexicon(
    _forms(
        "traceback",
        "exception|s",
        "error|s",
        "stacktrace",
        "segfault",
        "panic|s|ked",
        "crash|es|ed|ing",
        "bug|s",
        "debug|ging",
        "fail|s|ed|ing|ure",
        "undefined",
        "nonetype",
        "leak|s|ing",
        "deadlock|s",
        "hang|s|ing",
        "broken",
        "keyerror",
        "typeerror",
        "valueerror",
        "nullpointerexception",
        "oom",
        "timeout|s",
    ),
    (
        "stack trace",
        "segmentation fault",
        "doesn't work",
        "does not work",
        "not working",
        "null pointer",
        "race condition",
        "won't start",
        "cannot read propert",
        "is not defined",
        "unexpected token",
    ),
    (
        "报错",
        "错误",
        "异常",
        "崩溃",
        "调试",
        "不工作",
        "不生效",
        "跑不起来",
        "运行失败",
        "失败",
        "内存泄漏",
        "死锁",
        "排查",
        "卡住",
        "超时",
        "bug",
    ),
)
COMPLEX = Lexicon(
    _forms(
        "design|s|ing",
        "architecture|s",
        "architect",
        "scalable",
        "scalability",
        "distributed",
        "concurrency",
        "concurrent",
        "migrate",
        "migration",
        "tradeoff|s",
        "compare",
        "comparison",
        "evaluate",
        "evaluation",
        "analyze",
        "analyse",
        "analysis",
        "strategy",
        "strategies",
        "plan",
        "optimize",
        "optimise",
        "optimization",
        "performance",
        "security",
        "production",
        "pipeline",
        "comprehensive",
        "consistency",
        "consistent",
        "benchmark|s",
        "robust",
        "resilient",
        "multi-region",
        "sharding",
        "replication",
        "throughput",
        "latency",
        "microservice|s",
        "orchestrat|e|ion",
        "idempotent",
        "transaction|s",
        "thread-safe",
        "lock-free",
        "fault-tolerant",
        "end-to-end",
        "roadmap",
        "critique",
        "implications",
        "assess",
        "assessment",
    ),
    (
        "trade-off",
        "trade off",
        "pros and cons",
        "edge cases",
        "in depth",
        "in-depth",
        "thread safe",
        "lock free",
        "fault toleran",
        "high availability",
        "root cause",
        "scale out",
        "step plan",
        "system design",
    ),
    (
        "设计",
        "架构",
        "可扩展",
        "扩展性",
        "分布式",
        "并发",
        "线程安全",
        "迁移",
        "权衡",
        "对比",
        "比较",
        "评估",
        "分析",
        "方案",
        "策略",
        "规划",
        "优化",
        "性能",
        "安全",
        "生产环境",
        "全面",
        "深入",
        "详细",
        "优缺点",
        "利弊",
        "边界情况",
        "容错",
        "一致性",
        "高可用",
        "根因",
        "根本原因",
        "吞吐",
        "延迟",
        "微服务",
        "事务",
        "幂等",
    ),
)
CONSTRAINTS = Lexicon(
    _forms("must", "should", "ensure", "requirement|s", "constraint|s", "without", "only", "exactly"),
    ("make sure", "at least", "at most", "no more than"),
    ("必须", "需要", "要求", "确保", "不能", "不要", "至少", "至多", "最多", "只能"),
)
LOOKUP = Lexicon(
    _forms("define", "definition", "meaning", "capital", "abbreviation"),
    (
        "stand for",
        "how old",
        "how tall",
        "how far",
        "how many",
        "how much",
        "what does",
        "who is",
        "who was",
        "what is",
        "what's",
        "what are",
        "when did",
        "when was",
        "where is",
        "which is",
    ),
    (
        "是什么",
        "是谁",
        "什么意思",
        "在哪",
        "哪里",
        "哪个",
        "哪一年",
        "多少",
        "几个",
        "几点",
        "什么时候",
        "缩写",
        "含义",
    ),
)
TRANSLATION = Lexicon(
    _forms("translate|s|d", "translation"),
    (
        "in english",
        "in chinese",
        "in japanese",
        "in french",
        "in german",
        "in spanish",
        "how do you say",
        "how do i say",
        "into english",
        "into chinese",
    ),
    ("翻译", "译成", "译为", "用英文", "用英语", "用中文", "英文怎么说", "中文怎么说", "英译中", "中译英"),
)
REWRITE = Lexicon(
    _forms(
        "rewrite",
        "reword",
        "rephrase",
        "paraphrase",
        "polish",
        "proofread",
        "shorten",
        "summarize",
        "summarise",
        "summary",
        "tldr",
        "condense",
        "simplify",
    ),
    (
        "fix the grammar",
        "fix grammar",
        "more formal",
        "more concise",
        "more polite",
        "more casual",
        "make it shorter",
        "make this shorter",
        "make it clearer",
        "tl;dr",
    ),
    (
        "改写",
        "润色",
        "重写",
        "缩写",
        "精简",
        "校对",
        "语法",
        "改得",
        "改成",
        "总结",
        "概括",
        "摘要",
        "简化",
        "通顺",
    ),
)
EXTRACTION = Lexicon(
    _forms("extract", "parse", "classify", "categorize", "categorise", "fields", "entities"),
    (
        "pull out",
        "find all",
        "list all",
        "list every",
        "as json",
        "into json",
        "json with",
        "tag each",
        "named entit",
    ),
    ("提取", "抽取", "找出所有", "列出所有", "分类", "归类", "结构化", "字段", "实体"),
)
WRITING = Lexicon(
    _forms(
        "email",
        "letter",
        "story",
        "poem",
        "essay",
        "blog",
        "article",
        "speech",
        "bio",
        "tweet",
        "slogan",
        "toast",
        "lyrics",
        "haiku",
        "draft",
        "compose",
        "announcement",
        "proposal",
        "novel",
        "caption",
        "headline",
        "outline",
    ),
    ("cover letter", "write a", "write an", "write me", "write the", "write my", "product description"),
    (
        "写一封",
        "写一篇",
        "写一首",
        "写个",
        "写一段",
        "写一份",
        "帮我写",
        "文案",
        "作文",
        "演讲稿",
        "邮件",
        "小说",
        "故事",
        "诗",
        "标语",
        "祝福语",
        "公告",
        "简介",
        "周报",
        "总结报告",
        "朋友圈",
        "标题",
    ),
)
EXPLAIN = Lexicon(
    _forms("explain|s|ed", "describe", "why", "walk", "elaborate", "teach"),
    ("how does", "how do", "what happens", "difference between", "walk me through"),
    ("解释", "为什么", "原理", "讲讲", "讲一下", "介绍一下", "区别", "怎么回事", "如何工作"),
)
REVIEW = Lexicon(
    _forms("review", "critique", "critically", "assess", "compare", "versus", "vs"),
    ("pros and cons", "which is better", "should we", "should i"),
    ("评审", "审查", "点评", "对比", "比较", "优缺点", "利弊", "选型", "哪个好", "值不值得"),
)
TASK_BASE = {
    "chat": 0.0,
    "lookup": 0.0,
    "writing": 1.0,
    "rewrite": 0.9,
    "translation": 0.8,
    "extraction": 1.0,
    "code": 1.0,
    "debugging": 1.2,
    "math": 0.8,
    "analysis": 1.2,
}
SHORT = 15  # words (or Chinese characters): a phrase to translate or polish is a simple ask
GREETINGS = (
    "hi",
    "hello",
    "hey",
    "yo",
    "thanks",
    "thank you",
    "thx",
    "good morning",
    "good night",
    "good evening",
    "good afternoon",
    "bye",
    "ok",
    "okay",
    "cool",
    "nice",
    "你好",
    "您好",
    "嗨",
    "谢谢",
    "多谢",
    "早上好",
    "晚上好",
    "晚安",
    "再见",
    "好的",
    "收到",
    "在吗",
)
CODE_MARKS = (
    "```",
    "def ",
    "class ",
    "import ",
    "return ",
    "=>",
    "();",
    "){",
    ") {",
    "self.",
    "this.",
    "#include",
    "select ",
    "const ",
    "let ",
    "func ",
    "fn ",
    "print(",
    "console.",
    "    at ",
    'file "',
    "\n    ",
    "};",
)
_STEPS = re.compile(r"^[ \t]*(?:\d+[.)、]|[-*•][ \t]|[一二三四五六七八九十]+[、.])", re.MULTILINE)
_SEPARATORS = {i: " " for i in range(128) if not (chr(i).isalnum() or chr(i) in "+#-")}
_LATIN = re.compile(r"[a-z][a-z0-9+#'-]*")
_DIGIT_OR_EQUALS = re.compile(r"[0-9=]")
_FORMULA = re.compile(r"\d ?[-+*/\u00d7\u00f7^=<>] ?\(?\d")  # x and / signs by code point
_POWER = re.compile(r"[a-z0-9)]\^\d")
FORMULA_MARKS = ("∑", "∫", "√", "≤", "≥", "≠", "∞", "π", "\\frac", "\\sum", "\\int")


def _phrase_index(
    lexicons: tuple[Lexicon, ...],
) -> tuple[tuple[tuple[frozenset[str], str], ...], re.Pattern[str]]:
    """English phrases with the words each needs (a phrase is searched for only when all of its
    words are in the text: a set test instead of a scan); Chinese phrases as one regex (one pass of
    the regex engine costs less than a substring scan per phrase on non-ASCII text, 0.07 against
    0.19 ms for 1,100 characters)."""
    english: set[tuple[frozenset[str], str]] = set()
    chinese: set[str] = set()
    for lexicon in lexicons:
        english.update((frozenset(_LATIN.findall(phrase)), phrase) for phrase in lexicon.phrases)
        chinese.update(lexicon.zh)
    return tuple(sorted(english, key=lambda pair: pair[1])), re.compile(_trie_regex(chinese))


def _trie_regex(phrases: set[str]) -> str:
    """The phrases as one regex shaped as their prefix tree: at each position the engine follows
    the next character instead of trying every phrase in turn (0.068 against 0.089 ms for 1,100
    characters of Chinese as a flat alternation). Greedy: the longest phrase at a position wins,
    as with the alternation ordered longest first."""
    trie: dict[str, Any] = {}
    for phrase in phrases:
        node = trie
        for character in phrase:
            node = node.setdefault(character, {})
        node[""] = {}  # a phrase ends here

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" not in node:
            return body
        return ("(?:" + body + ")" if len(branches) == 1 else body) + "?"

    return emit(trie)


LEXICONS = (
    PROOF,
    REASONING,
    MATH,
    CODE_WORDS,
    DEBUGGING,
    COMPLEX,
    CONSTRAINTS,
    LOOKUP,
    TRANSLATION,
    REWRITE,
    EXTRACTION,
    WRITING,
    EXPLAIN,
    REVIEW,
)
_PHRASES, _CHINESE = _phrase_index(LEXICONS)


def _phrases_in(low: str, words: set[str], cjk: bool) -> set[str]:
    found = {phrase for needs, phrase in _PHRASES if needs <= words and phrase in low}
    if cjk:
        found.update(_CHINESE.findall(low))
    return found


def _has_formula(low: str) -> bool:
    if any(mark in low for mark in FORMULA_MARKS):
        return True
    if "^" in low and _POWER.search(low) is not None:
        return True
    return _DIGIT_OR_EQUALS.search(low) is not None and _FORMULA.search(low) is not None


# Weights of the difficulty score, and where the tiers start (tuned on
# tests/fixtures/difficulty/prompts.jsonl; see docs/routing.md).
BOUNDARIES = (("medium", 1.0), ("complex", 2.6))
REASONING_EVIDENCE = 2.2  # the deduction signals' part of the score
REASONING_SCORE = 3.0
BRIEF = 12  # words (or Chinese characters): a one-line ask


def classify(view: PromptView) -> Difficulty:
    text = _scanned(view.user)
    low = text.lower()
    # Characters of three UTF-8 bytes or more (CJK, mostly): counted in C, not per character.
    cjk_chars = (len(text.encode("utf-8", "replace")) - len(text)) // 2
    cjk = cjk_chars > 0
    # English words: a C translate + split; with Chinese around them ("用go实现"), the regex.
    tokens = _LATIN.findall(low) if cjk else low.translate(_SEPARATORS).split()
    words = set(tokens)
    length = (len(tokens) + cjk_chars) * (
        len(view.user) / len(text) if text and len(view.user) > len(text) else 1.0
    )
    head = low.lstrip()[:24]
    found = _phrases_in(low, words, cjk)
    counts = {
        "proof": PROOF.hits(words, found) if "proof of concept" not in low else 0,
        "reasoning": REASONING.hits(words, found),
        "math": MATH.hits(words, found) + (1 if _has_formula(low) else 0),
        "code_words": CODE_WORDS.hits(words, found),
        "code_shapes": min(sum(1 for mark in CODE_MARKS if mark in low) + low.count("\n```"), 20),
        "debugging": DEBUGGING.hits(words, found),
        "complex": COMPLEX.hits(words, found),
        "steps": min(len(_STEPS.findall(text)), 12),
        "constraints": CONSTRAINTS.hits(words, found),
        "questions": min(text.count("?") + text.count("\uff1f"), 8),
        "greeting": 1 if head.startswith(GREETINGS) else 0,
        "explain": EXPLAIN.hits(words, found),
        "review": REVIEW.hits(words, found),
        "lookup": LOOKUP.hits(words, found),
        "translation": TRANSLATION.hits(words, found),
        "rewrite": REWRITE.hits(words, found),
        "extraction": EXTRACTION.hits(words, found),
        "writing": WRITING.hits(words, found),
    }
    kind = _kind(counts, length)
    signals: list[tuple[str, float]] = []

    def add(name: str, value: float) -> None:
        if value:
            signals.append((name, round(value, 3)))

    # A task (write, code, compute, explain ...) is at least medium; chat and lookups start at 0.
    add("task", TASK_BASE[kind] if length >= SHORT or kind not in ("translation", "rewrite") else 0.0)
    add("explain", 0.7 if counts["explain"] and kind not in ("translation", "rewrite") else 0.0)
    add("proof", 2.4 * min(counts["proof"], 2))
    add("reasoning", 1.1 * min(counts["reasoning"], 3))
    add("math", 0.45 * min(counts["math"], 3))
    add("code", 0.5 * min(counts["code_words"], 3) + 0.12 * counts["code_shapes"])
    add("debugging", 0.5 * min(counts["debugging"], 3))
    add("complex", 0.55 * min(counts["complex"], 5))
    add("steps", 0.18 * counts["steps"])
    add("constraints", 0.2 * min(counts["constraints"], 4))
    add("questions", 0.2 * max(counts["questions"] - 1, 0))
    # Length: 0 up to ~40 units, +1 at ~300, +2 from ~2,000 (a pasted file or article).
    add(
        "length",
        0.0 if length < 40 else min(2.0, 0.75 * (length / 40) ** 0.5 - 0.75) if length < 2_000 else 2.0,
    )
    add("thinking", 1.5 if view.thinking else 0.0)
    add("conversation", min(0.6, 0.1 * max(view.turns - 3, 0)))
    add("agent", 0.3 if view.tools >= 3 and counts["code_words"] + counts["debugging"] else 0.0)
    # What makes a prompt easy whatever its length: a greeting, a lookup, a transformation of
    # pasted text (translating a page is long, not hard).
    add("greeting", -1.5 * counts["greeting"] if length < 30 else 0.0)
    add("lookup", -0.6 if counts["lookup"] and length < 30 and not counts["proof"] else 0.0)
    if kind in ("translation", "rewrite", "extraction") and not counts["proof"]:
        transform = sum(v for n, v in signals if n in ("length", "complex", "steps", "constraints"))
        add("transform", -0.7 * transform)
    add("brief", -0.8 if length < BRIEF and not counts["proof"] and counts["code_shapes"] < 2 else 0.0)
    score = sum(v for _, v in signals)
    # Reasoning needs evidence of deduction (a proof, a derivation, a puzzle, probability ...);
    # a long debugging session piles up signals and is complex, not reasoning.
    deduction = sum(v for n, v in signals if n in ("proof", "reasoning", "thinking"))
    general = score - deduction
    tier = "simple"
    for name, start in BOUNDARIES:
        if general >= start:
            tier = name
    if deduction >= REASONING_EVIDENCE and score >= REASONING_SCORE:
        tier = "reasoning"
    return Difficulty(tier, kind, score, tuple(signals))


def _kind(counts: dict[str, int], length: float) -> str:
    if counts["translation"]:
        return "translation"
    code = counts["code_words"] + min(counts["code_shapes"], 4)
    if counts["lookup"] and length < 20 and counts["code_shapes"] < 2 and not counts["proof"]:
        return "lookup"  # "what does HTTP 418 mean" asks a fact, whatever its subject
    if counts["debugging"] >= 2 and (code or counts["code_shapes"]):
        return "debugging"
    if counts["review"] and not counts["debugging"]:
        return "analysis"
    if code < 2 and (counts["proof"] or counts["math"] >= 2 or (counts["math"] and counts["reasoning"])):
        return "math"
    if counts["debugging"] and counts["code_shapes"] >= 2:
        return "debugging"
    if code >= 2 or counts["code_shapes"] >= 2:
        return "code"
    if counts["rewrite"]:
        return "rewrite"
    if counts["extraction"]:
        return "extraction"
    if counts["writing"]:
        return "writing"
    if counts["math"]:
        return "math"
    if code:
        return "code"
    if counts["complex"] >= 2 or counts["reasoning"]:
        return "analysis"
    if counts["lookup"]:
        return "lookup"
    if counts["complex"] and length > 30:
        return "analysis"
    return "chat"


def _scanned(text: str) -> str:
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    head, tail = HEAD_CHARS, TAIL_CHARS
    if not text[:200].isascii():  # Chinese holds about twice the tokens per character
        head, tail = head // 2, tail // 2
    return f"{text[:head]}\n{text[-tail:]}"


TIER_RANK = {name: i for i, name in enumerate(TIERS)}


def step_down(tier: str) -> str | None:
    """The tier below, None below simple."""
    rank = TIER_RANK[tier]
    return TIERS[rank - 1] if rank > 0 else None
