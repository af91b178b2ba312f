"""Labels of the KPIs, their units and the data sources' texts in English and Chinese.

Private to :mod:`twin.views.i18n` (which looks them up): :data:`KPI_LABELS` has every KPI the
runs report, the service, emergency and coverage ones (one set per queued facility kind)
included; :data:`UNITS_ZH` every unit they use; :data:`SOURCE_TEXT` the names, licences and
notes that twin writes into a twin's ``sources`` (the text a user gave stays as it is).

Examples
--------
>>> KPI_LABELS["clinic_wait_mean_min"][1]
'诊所等候时间（均值）'
>>> UNITS_ZH["trips"]
'次'
"""

from __future__ import annotations

__all__ = ["KPI_LABELS", "SOURCE_PREFIXES", "SOURCE_TEXT", "UNITS_ZH"]

KPI_LABELS: dict[str, tuple[str, str]] = {
    "commute_time_mean_min": ("Commute time, mean", "通勤时间（均值）"),
    "commute_time_p90_min": ("Commute time, 90th percentile", "通勤时间（第 90 百分位）"),
    "trip_time_mean_min": ("Trip time, mean", "出行时间（均值）"),
    "commute_trips": ("Commute trips", "通勤出行次数"),
    "person_hours": ("Person hours travelling", "出行总人时"),
    "delay_hours": ("Delay hours", "延误车时"),
    "access_clinic_15min_share": ("Residents within 15 min of a clinic",
                                  "15 分钟内可达诊所的居民比例"),
    "access_school_15min_share": ("Residents within 15 min of a school",
                                  "15 分钟内可达学校的居民比例"),
    "access_service_centre_15min_share": ("Residents within 15 min of a service centre",
                                          "15 分钟内可达政务服务中心的居民比例"),
    "service_wait_mean_min": ("Waiting time at services, mean", "公共服务等候时间（均值）"),
    "power_unserved_mwh": ("Power: unserved energy", "电力：未供电量"),
    "water_pressure_deficit_node_h": ("Water: pressure deficit", "供水：压力不足节点小时"),
    "mode_share_car": ("Mode share: car", "出行方式占比：小汽车"),
    "mode_share_transit": ("Mode share: transit", "出行方式占比：公共交通"),
    "mode_share_walk": ("Mode share: walking", "出行方式占比：步行"),
    "mode_share_bike": ("Mode share: cycling", "出行方式占比：自行车"),
    "vehicle_km": ("Vehicle kilometres", "车公里"),
    "vehicle_hours": ("Vehicle hours", "车小时"),
    "jobs_reachable_30min": ("Jobs reachable in 30 min (walk, transit)",
                             "30 分钟可达就业岗位（步行、公交）"),
    "jobs_reachable_30min_car": ("Jobs reachable in 30 min (car)", "30 分钟可达就业岗位（小汽车）"),
    "co2_t": ("CO2 emissions", "二氧化碳排放"),
    "residents": ("Residents", "居民"),
    "jobs": ("Jobs", "就业岗位"),
    "capex": ("Capital cost", "资本支出"),
    "opex_per_year": ("Operating cost per year", "年运营成本"),
    "npv": ("Net present value", "净现值"),
    "bcr": ("Benefit-cost ratio", "效益成本比"),
    "payback_year": ("Payback year", "回收年份"),
    "emergency_response_p90_min": ("Emergency response time, 90th percentile",
                                   "应急响应时间（第 90 百分位）"),
    "sensor_coverage_share": ("Road length covered by sensors", "传感器覆盖的道路长度比例"),
    "congested_link_hours": ("Congested link-hours", "拥堵路段小时"),
    "peak_line_loading_pct": ("Peak power line loading", "电力线路峰值负载率"),
    "min_pressure_m": ("Lowest water pressure", "最低供水压力"),
    "spillback_hours": ("Spillback link-hours", "排队溢出路段小时"),
    "max_vc": ("Highest volume / capacity", "最高流量/通行能力比"),
    "trips": ("Trips", "出行次数"),
    "car_trips": ("Car trips", "小汽车出行次数"),
    "unfinished_trips": ("Trips not finished by midnight", "午夜前未完成的出行"),
    "unrouted_agents": ("Agents that could not be routed", "无法规划路径的出行主体"),
    "peak_transformer_loading_pct": ("Peak transformer loading", "变压器峰值负载率"),
    "overloaded_line_hours": ("Overloaded line-hours", "线路过载小时"),
    "min_voltage_pu": ("Lowest voltage", "最低电压"),
    "unserved_energy_mwh": ("Unserved energy", "未供电量"),
    "grid_energy_mwh": ("Energy from the grid", "电网供电量"),
    "power_unsolved_hours": ("Power flow: hours not solved", "潮流未收敛小时数"),
    "power_unsolved_demand_mwh": ("Power flow: demand in the hours not solved",
                                  "潮流未收敛时段的用电需求"),
    "pressure_deficit_node_hours": ("Pressure deficit node-hours", "压力不足节点小时"),
    "unmet_water_m3": ("Water demand not met", "未满足用水量"),
    "water_leakage_m3": ("Water leakage", "漏水量"),
    "water_supplied_m3": ("Water supplied", "供水量"),
    "water_unsolved_hours": ("Hydraulics: hours not solved", "水力计算未收敛小时数"),
}


def _service_labels() -> dict[str, tuple[str, str]]:
    """The service, emergency and camera-coverage KPIs (twin.agents.services, .emergency)."""
    kinds = {"clinic": ("clinics", "诊所"), "hospital": ("hospitals", "医院"),
             "service_centre": ("service centres", "政务服务中心")}
    out = {
        "service_visits": ("Visits to public facilities", "公共设施到访量"),
        "service_wait_p90_min": ("Waiting time at services, p90", "公共服务等候时间（P90）"),
        "service_served_same_day_share": ("Service visits served the same day",
                                          "公共服务当日办结比例"),
        "service_utilisation_mean": ("Facility utilisation, mean", "公共设施利用率（均值）"),
        "service_online_visits": ("Service-centre visits done online", "线上办理的政务服务"),
        "emergency_incidents": ("Emergency incidents", "应急事件数"),
        "emergency_response_mean_min": ("Emergency response time, mean", "应急响应时间（均值）"),
        "emergency_within_target_share": ("Incidents reached within the target time",
                                          "目标时间内到达的事件比例"),
        "emergency_unreached": ("Incidents no unit could reach", "无法到达的事件数"),
        "emergency_coverage_share": ("People within the target time of an ambulance base",
                                     "救护车基地目标时间内覆盖的人口比例"),
        "emergency_nearest_base_mean_min": ("Response from the nearest ambulance base, mean",
                                            "最近救护车基地的响应时间（均值）"),
        "emergency_medical_response_mean_min": ("Medical response time, mean",
                                                "医疗急救响应时间（均值）"),
        "emergency_medical_response_p90_min": ("Medical response time, p90",
                                               "医疗急救响应时间（P90）"),
        "emergency_fire_response_mean_min": ("Fire response time, mean", "消防响应时间（均值）"),
        "emergency_fire_response_p90_min": ("Fire response time, p90", "消防响应时间（P90）"),
        "camera_coverage_share": ("Road length covered by cameras", "摄像头覆盖的道路长度比例"),
        "camera_gap_km": ("Road length no camera sees", "摄像头盲区道路长度"),
    }
    for k, (en, zh) in kinds.items():
        out[f"{k}_visits"] = (f"Visits to {en}", f"{zh}到访量")
        out[f"{k}_wait_mean_min"] = (f"Waiting time at {en}, mean", f"{zh}等候时间（均值）")
        out[f"{k}_wait_p90_min"] = (f"Waiting time at {en}, p90", f"{zh}等候时间（P90）")
        out[f"{k}_served_same_day_share"] = (f"Visits to {en} served the same day",
                                             f"{zh}当日服务比例")
        out[f"{k}_utilisation_mean"] = (f"Utilisation of {en}, mean", f"{zh}利用率（均值）")
    return out


KPI_LABELS.update(_service_labels())

#: Units in Chinese (symbols such as %, m3, MWh stay; English words do not).
UNITS_ZH = {
    "min": "分钟", "h": "小时", "share": "比例", "persons": "人", "jobs": "个岗位",
    "money": "货币", "money/yr": "货币/年", "ratio": "比值", "year": "年", "t": "吨",
    "t CO2/day": "吨二氧化碳/日", "veh-km": "车公里", "veh-km/day": "车公里/日",
    "veh-h": "车小时", "veh-h/day": "车小时/日", "link-h": "路段小时",
    "link-h/day": "路段小时/日", "node-h": "节点小时", "line-h": "线路小时", "MWh": "兆瓦时",
    "%": "%", "m": "米", "km": "公里",
    "m3": "立方米", "p.u.": "标幺值", "trips": "次", "trips/day": "次/日",
    "vehicle trips/day": "车次/日", "visits/day": "人次/日", "incidents/day": "起/日",
    "agents": "个主体", "share of residents' trips": "居民出行比例",
}

#: What twin itself writes into a twin's ``sources`` (name, licence, note), in Chinese.
SOURCE_TEXT = {
    "twin utility layout": "twin 市政管网布设",
    "twin synthetic generator": "twin 合成数据生成器",
    "generated": "生成",
    "power and water networks laid along streets (synthetic)": "沿街道布设的电力与供水管网（合成）",
    "see the model's source": "见模型来源",
}
#: Source names twin writes with a file name after them: prefix -> Chinese prefix.
SOURCE_PREFIXES = {"power network ": "电力网络 ", "water network ": "供水管网 "}
