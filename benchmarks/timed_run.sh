# Sourced by the bench_*_speed.sh scripts: `run LABEL COMMAND...` runs COMMAND pinned to core
# $core, its output folder "$out/x" emptied first, and prints its time for the ${#images[@]}
# images (a whole run: start-up included).
run() {
    local label=$1 start end
    shift
    rm -rf "$out/x"
    start=$(date +%s.%N)
    taskset -c "$core" "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    python3 -c "import sys; t = $end - $start; n = ${#images[@]}; print(f'{sys.argv[1]:<34} {t:7.1f} s  {n / t:6.1f} images/s  {1000 * t / n:6.1f} ms/image')" "$label"
}
