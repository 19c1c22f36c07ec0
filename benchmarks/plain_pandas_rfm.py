"""The Online Retail RFM table as an analyst writes it in a notebook: a straightforward vectorised pandas script.

It is the yardstick of benchmarks/batch_bench.py (rfm-stream batch should be no
slower than 1.5x of it), and, since it follows the same conventions (distinct
invoices, net monetary, ranks with ties by customer id, qcut into 5), an
independent check of the table. Usage: plain_pandas_rfm.py INPUT OUT.csv
"""

import sys

import numpy as np
import pandas as pd

SEGMENTS = {
    r"[1-2][1-2]": "hibernating", r"[1-2][3-4]": "at_risk", r"[1-2]5": "cant_lose", r"3[1-2]": "about_to_sleep",
    r"33": "need_attention", r"[3-4][4-5]": "loyal_customers", r"41": "promising", r"51": "new_customers",
    r"[4-5][2-3]": "potential_loyalists", r"5[4-5]": "champions",
}


def main(src: str, out: str) -> None:
    df = pd.read_csv(src, dtype={"CustomerID": str, "InvoiceNo": str}, parse_dates=["InvoiceDate"],
                     usecols=["InvoiceNo", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"])
    df = df.dropna(subset=["CustomerID"])
    df["CustomerID"] = df["CustomerID"].str.replace(r"\.0$", "", regex=True)
    df["TotalPrice"] = df["Quantity"] * df["UnitPrice"]
    inv = df.groupby("InvoiceNo").agg(cust=("CustomerID", "first"), date=("InvoiceDate", "min"), total=("TotalPrice", "sum"))
    inv["total"] = inv["total"].round(2)
    inv["is_return"] = inv.index.str.startswith("C")
    orders = inv[~inv["is_return"]]
    rfm = orders.groupby("cust").agg(last=("date", "max"), frequency=("total", "size"))
    rfm["monetary"] = inv.groupby("cust")["total"].sum().reindex(rfm.index).round(2)
    today = inv["date"].max()
    rfm["recency_days"] = (today - rfm["last"]).dt.days
    rfm = rfm.sort_index()
    rfm["aov"] = (rfm["monetary"] / rfm["frequency"]).round(2)
    labels = [1, 2, 3, 4, 5]
    rfm["r_score"] = pd.qcut(rfm["last"].rank(method="first"), 5, labels=labels).astype(int)
    rfm["f_score"] = pd.qcut(rfm["frequency"].rank(method="first"), 5, labels=labels).astype(int)
    rfm["m_score"] = pd.qcut(rfm["monetary"].rank(method="first"), 5, labels=labels).astype(int)
    rfm["rfm_score"] = rfm["r_score"].astype(str) + rfm["f_score"].astype(str) + rfm["m_score"].astype(str)
    rfm["rfm_sum"] = rfm["r_score"] + rfm["f_score"] + rfm["m_score"]
    rfm["value_band"] = np.select([rfm["rfm_sum"] <= 6, rfm["rfm_sum"] <= 10], ["low", "mid"], "high")
    rfm["segment"] = (rfm["r_score"].astype(str) + rfm["f_score"].astype(str)).replace(SEGMENTS, regex=True)
    rfm.index.name = "customer_id"
    cols = ["recency_days", "frequency", "monetary", "aov", "r_score", "f_score", "m_score", "rfm_score", "rfm_sum",
            "value_band", "segment"]
    rfm[cols].to_csv(out, float_format="%.2f")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
