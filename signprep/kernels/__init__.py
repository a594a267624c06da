"""Numeric kernels shared by the stages, the data path and the reports.

The one image fit of every image modality (`frame_fit`), Gaussian keypoint
heatmap renderers (`gaussian_heatmaps`), the flow storage encoding
(`flow_encoding`) and where each point sits in the stored keypoint array
(`keypoint_layout`). Plain functions on arrays: no files, no samples.
"""
