# The lrcourse grader in a container, for grading untrusted work where the kernel lacks
# Landlock or seccomp (docs/instructors.md, "Where the kernel layers are missing").
#
#   docker build -f docs/grading.Dockerfile -t lrcourse-grader .
#   docker run --rm --network none -v "$PWD/submissions:/submissions:ro" -v "$PWD/grades:/grades" \
#       lrcourse-grader /submissions --out /grades --stem 12_adam
#
# Grading needs numpy only (no torch, no Jupyter): the image holds Python, the pinned numpy
# and the lrcourse package.  The grader runs as root in the container, so its children run
# as 'nobody'; with --network none and only the submissions mounted, a child that escaped
# every layer would still find nothing of the host.
FROM python:3.11-slim
COPY constraints.txt /opt/lrcourse/constraints.txt
RUN python -m pip install --no-cache-dir "$(grep -i '^numpy==' /opt/lrcourse/constraints.txt)"
COPY lrcourse /opt/lrcourse/lrcourse
ENV PYTHONPATH=/opt/lrcourse PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/lrcourse
# Fails the build if children could not start here (prints the isolation layers otherwise).
RUN python -c "from lrcourse.grading import sandbox as s; import shutil; b = s.make_sandbox(); print(s.isolation_summary(b)); shutil.rmtree(b.workdir)"
ENTRYPOINT ["python", "-m", "lrcourse", "grade"]
