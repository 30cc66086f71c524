/*
 * bench_summary.h -- the small-batch summary of bench_kernels.cu: per
 * weight type and shape, the % of copy bandwidth of the default product
 * (path "auto", ds_cuda_matmul) and of the fastest kernel of the run at 1,
 * 2, 4 and 8 vectors, each with t(8) / t(1).  Host code only, so the CPU
 * tests (test_kernels_cpu.cpp) check it on made-up rows.
 */
#ifndef DS_BENCH_SUMMARY_H
#define DS_BENCH_SUMMARY_H

#include <cstdio>
#include <string>
#include <vector>

/* one measured configuration of the benchmark */
struct BenchRow
{
	std::string type,
				shape,
				path;
	int			M,
				K,
				n;
	double		t,				/* seconds */
				gbs,
				pct,			/* % of copy bandwidth */
				tflops,
				vs_cublas;
};

/* the kernel a row measured, as one letter (any variant of it); 0 for the
 * references (read, tma*, cublas) and the dispatcher (auto) */
static inline char
bench_letter(const std::string &p)
{
	if (p == "mma")
		return 'm';
	if (p == "dp4a")
		return 'd';
	if (p == "bulk")
		return 'b';
	if (p.compare(0, 3, "q8m") == 0)
		return 'q';
	if (p.compare(0, 3, "q8t") == 0)
		return 't';
	return 0;
}

/* the summary of rows for these types (names) and shapes (M x K), to out */
static inline void
bench_small_summary(FILE *out, const std::vector<BenchRow> &rows, const std::vector<std::string> &types,
					const std::vector<std::pair<int, int>> &shapes, double copy_bw)
{
	fprintf(out, "\nsmall-batch products, %% of copy bandwidth (%.0f GB/s) at n = 1 / 2 / 4 / 8, and t(8) / t(1)\n",
			copy_bw / 1e9);
	fprintf(out, "%-5s %-13s | %-26s | %-26s\n", "type", "shape", "default (ds_cuda_matmul)",
			"best kernel of the run");
	for (const std::string &type : types)
		for (const auto &sh : shapes)
		{
			char		dcell[64],
						bcell[64];
			int			dl = 0,
						bl = 0;
			const BenchRow *d[4] = {NULL, NULL, NULL, NULL},
					   *best[4] = {NULL, NULL, NULL, NULL};
			bool		any = false;

			for (int bi = 0; bi < 4; bi++)
			{
				const int	n = 1 << bi;	/* 1, 2, 4, 8 */

				for (const BenchRow &r : rows)
				{
					if (r.type != type || r.M != sh.first || r.K != sh.second || r.n != n)
						continue;
					if (r.path == "auto")
						d[bi] = &r;
					else if (bench_letter(r.path) && (!best[bi] || r.t < best[bi]->t))
						best[bi] = &r;
				}
				any |= d[bi] != NULL || best[bi] != NULL;
				dl += snprintf(dcell + dl, sizeof(dcell) - dl, "%3.0f%s", d[bi] ? d[bi]->pct : 0.0,
							   bi < 3 ? "/" : "");
				bl += snprintf(bcell + bl, sizeof(bcell) - bl, "%3.0f%c%s", best[bi] ? best[bi]->pct : 0.0,
							   best[bi] ? bench_letter(best[bi]->path) : '-', bi < 3 ? "/" : "");
			}
			if (!any)
				continue;
			snprintf(dcell + dl, sizeof(dcell) - dl, " %4.2f", d[0] && d[3] ? d[3]->t / d[0]->t : 0.0);
			snprintf(bcell + bl, sizeof(bcell) - bl, " %4.2f",
					 best[0] && best[3] ? best[3]->t / best[0]->t : 0.0);
			fprintf(out, "%-5s %6dx%-6d | %-26s | %-26s\n", type.c_str(), sh.first, sh.second, dcell, bcell);
		}
	fprintf(out, "(default: DS_BENCH_PATHS with \"auto\"; best: m = mma, d = dp4a, q = q8mma, t = q8tma, b = bulk,\n"
			" any of their variants that ran)\n");
}

#endif							/* DS_BENCH_SUMMARY_H */
