"""lm-eval task helpers for bench/eval_agreement.py: lm-eval's own document processing, imported.

The data here is the local copy converted by the bench into the field layout of the hub datasets, so the
prompts come from lm-evaluation-harness's code, not from InHouse's adapters.
"""

from lm_eval.tasks.hellaswag.utils import process_docs as hellaswag_process_docs  # noqa: F401
from lm_eval.tasks.kobest.utils import copa_doc_to_choice, copa_doc_to_target, copa_doc_to_text  # noqa: F401
from lm_eval.tasks.truthfulqa.utils import process_results_mc2  # noqa: F401
