"""The review report: one static HTML page for a fence change.

`collect.run` verifies the variants and gathers everything the page shows
(verdicts, proofs with their invariants in plain words, counterexamples
with step tables and sequence diagrams, machine diagrams, the diff against
`reference` for a maintainer's own variant, trace coverage); `page.render`
turns that into HTML with inline SVG and CSS, so the page works offline
and can be attached to a pull request as it is.
"""
